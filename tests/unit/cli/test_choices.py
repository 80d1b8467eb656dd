"""Choice options are enums: the help lists the choices and typer refuses others."""

from typer.testing import CliRunner

from tastemaker.cli.app import app


def test_dataset_import_help_lists_the_data_sets() -> None:
    result = CliRunner().invoke(app, ["dataset", "import", "--help"], env={"COLUMNS": "120"})
    assert "<movielens|retail|retailrocke" in result.output


def test_export_format_refuses_an_unknown_choice_before_opening_anything() -> None:
    result = CliRunner().invoke(app, ["export", "events", "--format", "csv", "-w", "/nonexistent"])
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.output


def test_serve_lists_and_checks_its_log_levels() -> None:
    from typer.testing import CliRunner

    from tastemaker.cli.app import app

    runner = CliRunner()
    shown = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "critical|error|warning|info|debug|trace" in shown.output
    bad = runner.invoke(app, ["serve", "--log-level", "loud"])
    assert bad.exit_code != 0 and "Invalid value" in bad.output
