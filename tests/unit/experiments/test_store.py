"""The YAML store: put, get, list, stop, and a running reader picking up changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tastemaker.errors import NotFoundError, ValidationFailedError
from tastemaker.experiments.definition import canary_experiment
from tastemaker.experiments.results import metric_catalog
from tastemaker.experiments.store import METRICS_FILE, ExperimentStore


def test_put_get_list_stop_round_trip(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "experiments", check_seconds=0)
    assert store.list() == []
    exp = store.put(canary_experiment("v0002", 10))
    assert (tmp_path / "experiments" / "canary-v0002.yaml").is_file()
    assert store.get("canary-v0002") == exp
    assert [e.key for e in store.list()] == ["canary-v0002"]
    assert store.stop("canary-v0002").status == "stopped"
    assert ExperimentStore(tmp_path / "experiments").get("canary-v0002").status == "stopped"
    with pytest.raises(NotFoundError):
        store.get("nope")


def test_a_reader_picks_up_new_files_and_leaves_out_invalid_ones(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    reader = ExperimentStore(folder, check_seconds=0)
    assert reader.current() == {}
    ExperimentStore(folder).put(canary_experiment("v0003", 5))
    (folder / "broken.yaml").write_text("key: broken\nvariants: []\n")
    assert list(reader.current()) == ["canary-v0003"]
    assert "broken" in reader.errors and "variants" in reader.errors["broken"]
    with pytest.raises(NotFoundError, match="invalid"):
        reader.get("broken")


def test_the_folder_is_looked_at_at_most_every_check_seconds(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    reader = ExperimentStore(folder, check_seconds=3600)
    assert reader.current() == {}
    ExperimentStore(folder).put(canary_experiment("v0003", 5))
    assert reader.current() == {}  # not looked at again yet


def test_the_declared_metrics_file_is_not_read_as_an_experiment(tmp_path: Path) -> None:
    folder = tmp_path / "experiments"
    store = ExperimentStore(folder, check_seconds=0)
    store.put(canary_experiment("v0002", 10))
    (folder / METRICS_FILE).write_text(
        "- name: wishlist_rate\n  numerator: {event_type: wishlist, aggregation: any}\n"
    )
    assert [e.key for e in store.list()] == ["canary-v0002"] and store.errors == {}
    assert ExperimentStore(folder).current().keys() == {"canary-v0002"}
    assert metric_catalog(folder)["wishlist_rate"].kind == "proportion"
    with pytest.raises(ValidationFailedError, match="reserved"):
        store.put(canary_experiment("v0002", 10).model_copy(update={"key": "metrics"}))
    with pytest.raises(NotFoundError):
        store.get("metrics")
