"""`tastemaker init` writes commented configuration files that parse to the defaults."""

import re
from pathlib import Path

from typer.testing import CliRunner

from tastemaker.cli.app import app
from tastemaker.config import ServingConfig, Settings, load_settings
from tastemaker.engine.config import PipelineConfig, load_pipeline_config
from tastemaker.workspace import Workspace


def test_init_writes_commented_templates_equal_to_defaults(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    root = tmp_path / "ws"
    settings = (root / "tastemaker.yaml").read_text()
    assert settings.count("#") > 50
    # every default, but requests without a key are accepted from this machine (loopback)
    local = ServingConfig(allow_anonymous="loopback")
    assert load_settings(root, environ={}) == Settings(workspace=root.resolve(), serving=local)
    assert "  allow_anonymous: loopback   # requests without a key" in settings
    recommendations = (root / "recommendations.yaml").read_text()
    assert recommendations.count("#") > 20
    assert load_pipeline_config(root) == PipelineConfig()
    segments = (root / "segments.yaml").read_text()
    assert segments.lstrip().startswith("#")
    ws = Workspace.open(root)
    try:
        assert ws.profiles.rules.parse(segments).segments
    finally:
        ws.close()


def test_readme_documents_every_file_init_writes(tmp_path: Path) -> None:
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for path in (tmp_path / "ws").iterdir():
        suffix = "/" if path.is_dir() else ""
        assert f"`{path.name}{suffix}`" in readme, path.name


def _readme_section(title: str) -> str:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_file_the_readme_lists_in_a_workspace_is_there_after_init(tmp_path: Path) -> None:
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    table = [line for line in _readme_section("The workspace").splitlines() if line[:3] == "| `"]
    names = [line.split("`")[1] for line in table]
    assert "tastemaker.yaml" in names and "models/" in names
    for name in names:
        assert (tmp_path / "ws" / name.rstrip("/")).exists(), name


def test_the_readme_layout_names_only_packages_that_exist() -> None:
    text = _readme_section("Layout").split("Imports follow", 1)[0]
    names = re.findall(r"`([a-z_]+)`", text)
    assert len(names) > 10
    src = Path(__file__).resolve().parents[3] / "src" / "tastemaker"
    assert [n for n in names if not (src / n / "__init__.py").is_file()] == []


def test_the_recommendations_template_names_every_engine_setting() -> None:
    from pydantic import BaseModel

    text = (
        Path(__file__).resolve().parents[3] / "src/tastemaker/cli/templates/recommendations.yaml"
    ).read_text()

    def names(model: type[BaseModel], prefix: str = "") -> list[str]:
        out = []
        for name, field in model.model_fields.items():
            key = field.alias or name
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += names(sub, f"{prefix}{key}.")
            else:
                out.append(f"{prefix}{key}")
        return out

    missing = [n for n in names(PipelineConfig) if f"{n.rsplit('.', 1)[-1]}:" not in text]
    assert missing == []
