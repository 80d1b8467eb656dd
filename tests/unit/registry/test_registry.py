"""The registry life cycle: train, promote, canary, shadow, rollback, refused promote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tastemaker.engine.config import load_pipeline_config
from tastemaker.engine.version import load_version
from tastemaker.errors import ConflictError, NotFoundError, ValidationFailedError
from tastemaker.registry.artifacts import ServingArtifacts, unit_rows
from tastemaker.registry.manifest import feature_schema_hash
from tastemaker.registry.registry import Canary, ModelRegistry, in_canary
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace


def test_train_writes_a_versioned_folder_with_a_full_manifest(
    market_ws: Workspace, hybrid: dict[str, object]
) -> None:
    manifest = train_version(market_ws, "hybrid", hybrid, holdout=0.2)
    reg = registry_of(market_ws)
    assert manifest.version == "v0001" and reg.versions() == ["v0001"]
    folder = reg.path("v0001")
    parts = ("model/manifest.json", "retrieval/ann.faiss", "serving/item_factors.npy")
    for part in ("manifest.json", *parts):
        assert (folder / part).is_file(), part
    stored = json.loads((folder / "manifest.json").read_text())
    assert stored["feature_schema_hash"] == feature_schema_hash()
    assert stored["data"]["events"] == market_ws.store.count_events()
    assert stored["data"]["start"] < stored["data"]["end"]
    assert 0 <= stored["metrics"]["ndcg@10"] <= 1 and stored["params"]["weights"] == [0.5, 0.5]
    assert stored["code_version"] and stored["created_at"].endswith("Z")
    art = ServingArtifacts.load(folder)
    assert art.item_factors.shape == (stored["data"]["items"], 16)
    assert art.ann.recall_ >= 0.95
    second = train_version(market_ws, "itemknn", {}, holdout=0)
    assert second.version == "v0002" and second.metrics == {}


def test_serving_arrays_are_mapped_copy_on_write_and_old_archives_still_load(
    market_ws: Workspace, hybrid: dict[str, object]
) -> None:
    folder = registry_of(market_ws).path(train_version(market_ws, "hybrid", hybrid).version)
    art = ServingArtifacts.load(folder)
    stored = np.load(folder / "serving" / "popularity.npy").copy()
    art.popularity[:] = -1.0  # a change in memory never reaches the version folder
    np.testing.assert_array_equal(np.load(folder / "serving" / "popularity.npy"), stored)
    assert art.unit_factors is not None
    np.testing.assert_array_equal(art.unit_factors, unit_rows(art.item_factors))
    config = load_pipeline_config(market_ws.root)
    items = market_ws.store.items()
    manifest = registry_of(market_ws).manifest(folder.name)
    new = load_version(folder, manifest, items, config)
    # a version written before serving/ existed: one serving.npz, no unit factors
    files = (folder / "serving").glob("*.npy")
    arrays = {f.stem: np.load(f) for f in files if f.stem != "unit_factors"}
    np.savez(folder / "serving.npz", **arrays)  # type: ignore[arg-type]
    shutil.rmtree(folder / "serving")
    old = ServingArtifacts.load(folder)
    assert old.unit_factors is None
    np.testing.assert_array_equal(old.popularity, stored)
    np.testing.assert_array_equal(old.item_factors, art.item_factors)
    assert (old.neighbors != art.neighbors).nnz == 0 and (old.history != art.history).nnz == 0
    old_version = load_version(folder, manifest, items, config)
    assert old_version.unit_vectors is not None and new.unit_vectors is not None
    np.testing.assert_array_equal(old_version.unit_vectors, new.unit_vectors)


def test_promote_canary_shadow_and_rollback(
    market_ws: Workspace, hybrid: dict[str, object]
) -> None:
    v1 = train_version(market_ws, "hybrid", hybrid, holdout=0).version
    v2 = train_version(market_ws, "hybrid", hybrid, holdout=0).version
    reg = registry_of(market_ws)
    before = reg.state_token()
    assert reg.promote(v1).active == v1
    assert reg.state_token() != before
    state = reg.set_canary(v2, 25)
    assert state.canary == Canary(version=v2, share=25) and state.active == v1
    assert reg.set_shadow(v2).shadow == v2 and reg.set_shadow(None).shadow is None
    state = reg.promote(v2)
    assert (state.active, state.history, state.canary) == (v2, [v1], None)
    assert reg.rollback().active == v1
    with pytest.raises(ConflictError, match="nothing to roll back"):
        reg.rollback()
    assert reg.set_canary(v2, 0).canary is None


def test_promoting_the_shadow_version_clears_the_shadow(market_ws: Workspace) -> None:
    v1 = train_version(market_ws, "itemknn", {}, holdout=0).version
    v2 = train_version(market_ws, "itemknn", {}, holdout=0).version
    reg = registry_of(market_ws)
    reg.promote(v1)
    reg.set_shadow(v2)
    state = reg.promote(v2)  # the shadow is now live: nothing left to compare it with
    assert (state.active, state.shadow) == (v2, None)
    assert reg.state().shadow is None
    reg.set_shadow(v2)
    assert reg.promote(v1).shadow == v2  # another version's promotion keeps the shadow


def test_canary_assignment_is_stable_and_close_to_its_share() -> None:
    canary = Canary(version="v0002", share=10)
    users = [f"user-{i}" for i in range(20_000)]
    first = np.array([in_canary(u, canary) for u in users])
    again = np.array([in_canary(u, canary) for u in users])
    assert (first == again).all()
    assert 0.09 < first.mean() < 0.11
    assert not any(in_canary(u, None) for u in users[:10])
    assert all(in_canary(u, Canary(version="x", share=100)) for u in users[:10])


def test_a_version_built_for_another_feature_schema_is_refused(market_ws: Workspace) -> None:
    v1 = train_version(market_ws, "itemknn", {}, holdout=0).version
    reg = registry_of(market_ws)
    path = reg.path(v1) / "manifest.json"
    data = json.loads(path.read_text())
    data["feature_schema_hash"] = "0123456789abcdef"
    path.write_text(json.dumps(data))
    with pytest.raises(ConflictError) as err:
        reg.promote(v1)
    assert "feature schema 0123456789abcdef" in err.value.message
    assert "retrain" in err.value.message and err.value.status_code == 409
    with pytest.raises(ConflictError):
        reg.set_canary(v1, 10)
    assert reg.state().active is None


def test_unknown_version_and_bad_share(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    with pytest.raises(NotFoundError, match="v0009"):
        reg.promote("v0009")
    with pytest.raises(ValidationFailedError):
        reg.set_canary("v0001", 150)
    assert reg.versions() == [] and reg.state().active is None


def test_training_without_events_says_what_to_do(sqlite_workspace: Workspace) -> None:
    with pytest.raises(ValidationFailedError, match="import events first"):
        train_version(sqlite_workspace, "itemknn")
    with pytest.raises(ValidationFailedError, match="unknown model"):
        train_version(sqlite_workspace, "nope")
