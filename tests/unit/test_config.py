"""The commented `tastemaker.yaml` template stays in step with the `Settings` model."""

from __future__ import annotations

import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from tastemaker.config import (
    CONFIG_FILE,
    TEMPLATE_FILE,
    IngestConfig,
    PostgresStoreConfig,
    RedisBusConfig,
    ServingConfig,
    Settings,
    load_settings,
    settings_text,
    write_settings,
)

TEMPLATE = (Path(__file__).resolve().parents[2] / "src/tastemaker" / TEMPLATE_FILE).read_text()


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models a field holds (both members of a `type:` union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) is typing.Annotated:
        return _models(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return []


def _block(section: str) -> str:
    """The template's lines for a top-level section: its key and the indented lines below."""
    lines = TEMPLATE.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return "\n".join(lines[start:end])


def test_every_setting_appears_in_its_section_of_the_template() -> None:
    missing = []
    for section, field in Settings.model_fields.items():
        if section == "workspace":  # the folder itself, never written
            continue
        block = _block(section)
        for model in _models(field.annotation):
            missing += [f"{section}.{n}" for n in model.model_fields if f" {n}:" not in block]
    assert not missing, f"{TEMPLATE_FILE} does not document {missing}"


def test_every_setting_line_carries_a_comment() -> None:
    weights = _block("event_weights").splitlines()  # one comment above says what they are
    settings = [line for line in TEMPLATE.splitlines() if line.startswith("  ") and ":" in line]
    assert [line for line in settings if "#" not in line and line not in weights] == []


def test_the_template_loads_as_exactly_the_default_settings(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text(TEMPLATE)
    loaded = load_settings(tmp_path, environ={})
    assert loaded == Settings(workspace=tmp_path.resolve())
    assert settings_text(Settings()) == TEMPLATE


@pytest.mark.parametrize(
    "changed",
    [
        {"store": PostgresStoreConfig(url="postgresql://shop@db:5432/shop", schema_name="tm")},
        {"bus": RedisBusConfig(partitions=8), "models_dir": "artifacts"},
        {"ingest": IngestConfig(max_batch=50), "serving": ServingConfig(api_key="s3cret")},
        {"event_weights": {"view": 1.0, "purchase": 10.0}},
    ],
)
def test_written_settings_read_back_equal_and_keep_the_comments(
    tmp_path: Path, changed: dict[str, object]
) -> None:
    settings = Settings(workspace=tmp_path.resolve(), **changed)
    text = write_settings(settings).read_text()
    assert load_settings(tmp_path, environ={}) == settings
    assert "# Real-time user profiles and segments." in text
    assert "# decay of attribute affinities" in text or "profiles" in changed


def test_the_environment_still_overrides_the_file(tmp_path: Path) -> None:
    write_settings(Settings(workspace=tmp_path))
    loaded = load_settings(tmp_path, environ={"TASTEMAKER__SERVING__PORT": "9001"})
    assert loaded.serving.port == 9001
    assert yaml.safe_load((tmp_path / CONFIG_FILE).read_text())["serving"]["port"] == 8000
