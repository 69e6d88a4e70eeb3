"""What `gan-aug run` prints after a run, built from fixture metrics (no pipeline run): the verdict first,
the downstream table with few-shot recall, the comparison in both metrics, the per-class mix, the mix's
reason; every table within an 80-column terminal."""
from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from gan_aug.cli import (
    class_mix_table,
    comparison_table,
    downstream_table,
    filters_table,
    print_run_summary,
    quality_table,
    run_summary,
)
from report_fixtures import make_metrics, no_synthetic, typed

TABLES = (downstream_table, comparison_table, class_mix_table, filters_table, quality_table)


def _lines(renderable, width: int = 200) -> list[str]:
    """The renderable as plain text on a terminal ``width`` columns wide."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def _row(lines: list[str], first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    line = next(line for line in lines if line.startswith(f"│ {first} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


@pytest.fixture
def metrics():
    return typed(make_metrics())


@pytest.mark.parametrize("build", TABLES, ids=lambda build: build.__name__)
def test_each_table_fits_80_columns_without_wrapping(metrics, build):
    wide, narrow = _lines(build(metrics)), _lines(build(metrics), width=80)
    assert max(map(len, wide)) <= 80  # its natural width, title included
    assert narrow == wide  # so an 80-column terminal shows it exactly as it is: nothing wrapped or cut


def test_summary_prints_the_verdict_first_then_tables_then_the_mix_reason(metrics):
    parts = run_summary(metrics)
    titles = [part.title if isinstance(part, Table) else str(part)[:12] for part in parts]
    assert titles == ["Verdict: The", "Downstream classifier on the real test set (means over 3 seeds)",
                      "GAN against the best baseline (oversampled), paired over seeds",
                      "Per class: rows shipped and usefulness of the synthetic rows", "Mix shipped:",
                      "Filters: candidates made, then kept after each filter",
                      "Sample quality (floor: real vs real; ratio: matched FD / floor)"]
    verdict = str(parts[0])
    assert "tied with the best baseline (oversampled) in balanced accuracy" in verdict
    assert "beat it by +6.0 points of few-shot recall [+3.5, +8.5]" in verdict
    assert str(parts[4]).startswith("Mix shipped: dose 1, weight 0.5 (chosen on validation). Why: dose 1, weight 0.5")
    assert "Not allowed (recognised too rarely): digit-4." in str(parts[4])


def test_downstream_and_comparison_tables_carry_few_shot_recall(metrics):
    lines = _lines(downstream_table(metrics))
    header = next(line for line in lines if "method" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "method", "bal. acc ± 95%", "few-shot", "macro-F1", "G-mean", "acc"]
    assert _row(lines, "gan") == ["gan", "0.847 ± 0.011", "0.620", "0.845", "0.797", "0.922"]
    assert _row(lines, "oversampled")[2] == "0.560"
    assert not any("gan_weighted" in line for line in lines)

    lines = _lines(comparison_table(metrics))
    assert _row(lines, "balanced accuracy") == ["balanced accuracy", "+0.012", "[-0.023, +0.047]", "0.279", "2/3",
                                                "tie"]
    assert _row(lines, "few-shot recall") == ["few-shot recall", "+0.060", "[+0.035, +0.085]", "0.009", "3/3", "win"]


def test_class_mix_table_shows_rows_shipped_and_usefulness(metrics):
    lines = _lines(class_mix_table(metrics))
    assert _row(lines, "digit-3") == ["digit-3", "46", "46", "34", "1", "0.92", "0.76"]
    assert _row(lines, "digit-4") == ["digit-4", "33", "0", "93", "0", "0.55", "0.35"]  # agreement too low
    assert _row(lines, "digit-0") == ["digit-0", "126", "0", "0", "0", "—", "0.91"]
    for row in (_row(lines, f"digit-{label}") for label in range(10)):
        assert int(row[1]) + int(row[2]) + int(row[3]) == 126  # balanced to the row


def test_no_synthetic_rows_print_plainly():
    parts = run_summary(typed(no_synthetic(make_metrics())))
    assert str(parts[0]).startswith("Verdict: No synthetic rows shipped: on validation they did not beat "
                                    "duplication by more than the noise")
    assert str(parts[4]).startswith("Mix shipped: no synthetic rows (chosen on validation).")


def test_summary_without_a_comparison_leaves_its_table_out():
    metrics = make_metrics()
    metrics["downstream"].update(comparison={}, best_baseline=None)  # evaluate.methods held no baseline
    parts = run_summary(typed(metrics))
    assert "was not compared with a baseline" in str(parts[0])
    assert [part.title for part in parts if isinstance(part, Table)][:2] == [
        "Downstream classifier on the real test set (means over 3 seeds)",
        "Per class: rows shipped and usefulness of the synthetic rows"]


def test_user_text_is_printed_as_is_not_as_markup():
    metrics = make_metrics()
    metrics["classes"][4]["name"] = "[bold red]four[/bold red]"
    out = io.StringIO()
    print_run_summary(typed(metrics), Console(width=200, file=out, color_system=None))
    assert "[bold red]four[/bold red]" in out.getvalue()
