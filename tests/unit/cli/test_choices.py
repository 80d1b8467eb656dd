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


def test_evaluate_lists_its_splits_data_sets_and_export_formats() -> None:
    shown = CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert "<temporal-user|random|leave-last|temporal>" in shown.output
    assert "[default: temporal-user]" in shown.output
    assert "<ml-100k|movielens>" in shown.output and "<parquet|csv>" in shown.output
    args = ["evaluate", "--split", "temporal_users", "-w", "/nowhere"]
    bad = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "Invalid value for '--split'" in bad.output


def test_evaluate_seeds_are_a_count_or_a_list() -> None:
    from tastemaker.cli.evaluate import parse_seeds

    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,5,7") == [0, 5, 7]
    assert parse_seeds(None) is None
    args = ["evaluate", "--seeds", "2", "--split-from", "/nowhere"]
    refused = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    said = " ".join(refused.output.split())  # the console may wrap at its own width
    assert refused.exit_code == 2 and "cannot be combined with --split-from" in said
