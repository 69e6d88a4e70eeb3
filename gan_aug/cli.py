"""The `gan-aug` command: run the pipeline from a config, run the demo, print the default config.

The flow lives in flows/ and imports Prefect; it is imported only when a command needs it,
so `import gan_aug` stays free of Prefect.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console, RenderableType
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from gan_aug.config import AugmentConfig, ConfigError, demo_config, load_config
from gan_aug.run_result import RunResult

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
err_console = Console(stderr=True)


def _report():
    """gan_aug.report, imported on first use: it loads matplotlib, which `gan-aug config` need not wait for."""
    from gan_aug import report

    return report


TEXT_COLUMNS = ("method", "name", "comparison", "class", "metric", "outcome")


def _cell(value: Any, digits: int = 3) -> Text:
    """Plain text, never rich markup: class names come from users and may hold '[…]'."""
    return Text("—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _table(title: str, rows: list[dict], digits: int = 3) -> Table:
    table = Table(title=title)
    for column in rows[0] if rows else []:
        table.add_column(str(column), justify="left" if column in TEXT_COLUMNS else "right")
    for row in rows:
        table.add_row(*(_cell(value, digits) for value in row.values()))
    return table


def _round(value: object) -> object:
    """One decimal for distances of 1 or more (they run to the hundreds), so the table fits 80 columns."""
    if isinstance(value, float) and abs(value) >= 1:
        return f"{value:.1f}"
    return value


def _plus_minus(low: float | None, high: float | None, mean: float | None) -> str | None:
    """'0.835 ± 0.024': the t interval is symmetric, so its half-width says it in fewer columns."""
    if mean is None:
        return None
    return f"{mean:.3f}" if low is None or high is None else f"{mean:.3f} ± {(high - low) / 2:.3f}"


def downstream_table(result: RunResult) -> Table:
    """Every method's means on the real test split, few-shot recall beside balanced accuracy (80 columns)."""
    rows = [{"method": r["method"],
             "bal. acc ± 95%": _plus_minus(r["balanced_accuracy_ci_low"], r["balanced_accuracy_ci_high"],
                                           r["balanced_accuracy"]),
             "few-shot": r["few_shot_recall"], "macro-F1": r["macro_f1"], "G-mean": r["g_mean"], "acc": r["accuracy"]}
            for r in _report().downstream_table_rows(result)]
    return _table(f"Downstream classifier on the real test set (means over {len(result.downstream.seeds)} seeds)",
                  rows)


def comparison_table(result: RunResult) -> Table:
    """The GAN's mix against the best baseline, paired over seeds, in both compared metrics."""
    rows = _report().comparison_table_rows(result)
    several = len({row["comparison"] for row in rows}) > 1
    return _table(f"GAN against the best baseline ({result.downstream.best_baseline}), paired over seeds", [
        {"metric": f"{row['comparison']}: {row['metric']}" if several else row["metric"],
         "difference": f"{row['difference']:+.3f}",
         "95% interval": "—" if row["ci_low"] is None else f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]",
         "p": row["p_value"], "won": row["wins"], "outcome": row["outcome"]} for row in rows])


def class_mix_table(result: RunResult) -> Table:
    """Per class: what shipped (synthetic and duplicated rows, the dose) and how useful its synthetic rows
    looked (label agreement, CAS)."""
    rows = [{"name": r["name"], "real": r["real"], "synthetic": r["synthetic"], "duplicated": r["duplicates"],
             "dose": None if r["dose"] is None else f"{r['dose']:g}", "agreement": r["label_agreement"],
             "CAS": r["cas"]}
            for r in _report().usefulness_table_rows(result)]
    return _table("Per class: rows shipped and usefulness of the synthetic rows", rows, digits=2)


def filters_table(result: RunResult) -> Table:
    from gan_aug.filters.registry import filters

    short = {"generated": "made", "acceptance": "FD",  # narrow headers: a terminal is 80 columns wide
             **{f"passed_{name}": spec.short for name, spec in filters().items()}}
    return _table("Filters: candidates made, then kept after each filter", [
        {short.get(k, k): v for k, v in row.items()
         if k in ("name", "asked", "generated", "used", "acceptance") or k.startswith("passed_")}
        for row in _report().filter_table_rows(result)])


def quality_table(result: RunResult) -> Table:
    quality = {"name": "name", "fd": "FD", "fd_floor": "floor", "fd_matched": "matched", "fd_ratio": "ratio",
               "kid": "KID", "kid_floor": "KID floor", "precision": "prec", "recall": "recall"}
    return _table("Sample quality (floor: real vs real; ratio: matched FD / floor)",
                  [{title: row[key] if key in ("precision", "recall") else _round(row[key])
                    for key, title in quality.items()}
                   for row in _report().quality_table_rows(result)])


def run_summary(result: RunResult) -> list[RenderableType]:
    """What `gan-aug run` prints after a run, in order: the verdict, the downstream and comparison tables,
    the per-class mix, the mix's reason, then the filters and sample quality (tables without rows are
    left out)."""
    parts = [Text("Verdict: " + _report().verdict_text(result), style="bold"), downstream_table(result),
             comparison_table(result), class_mix_table(result), Text(_report().mix_text(result)),
             filters_table(result), quality_table(result)]
    return [part for part in parts if not isinstance(part, Table) or part.row_count]


def print_run_summary(result: RunResult, to: Console | None = None) -> None:
    """Print the run's summary (``run_summary``) to ``to``, or the terminal."""
    for part in run_summary(result):
        (to or console).print(part)


def _run(config: AugmentConfig, out: Path) -> None:
    from flows.augment import run_augment  # Prefect is imported here, not at `import gan_aug`
    from gan_aug.checkpoint import CheckpointError
    from gan_aug.filters import FDAcceptanceError
    from gan_aug.metrics.extractors import InceptionWeightsMissing
    from gan_aug.progress import progress_bars

    try:
        with progress_bars(err_console):  # bars on a terminal; Prefect's log lines either way
            outputs = run_augment(config, out)
    except (ConfigError, ValueError, FDAcceptanceError, InceptionWeightsMissing, CheckpointError) as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    print_run_summary(RunResult.read(outputs["metrics"]))
    # Plain echo: rich would wrap long paths, and people copy these.
    typer.echo(f"report:   {outputs['report']}\nmetrics:  {outputs['metrics']}\nmanifest: {outputs['manifest']}")


@app.command()
def run(
    config_path: Path = typer.Argument(..., metavar="CONFIG.yaml", help="run config (see `gan-aug config`)"),
    out: Path = typer.Option(..., "--out", help="run folder: config, checkpoints, shards, metrics, report"),
) -> None:
    """Balance the data set a config describes and report the downstream gain."""
    try:
        config = load_config(config_path)
    except ConfigError as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    _run(config, out)


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), "--out", help="run folder")) -> None:
    """Run the whole pipeline on the embedded default (scikit-learn's digits, made long-tailed)."""
    _run(demo_config(), out)


def _print_inspection(report) -> None:
    console.print(f"source:  {report.source}  ({report.format}{', from cache' if report.from_cache else ''})")
    console.print(f"images:  {sum(report.counts)} as {'×'.join(map(str, report.image_shape))} (C×H×W)")
    console.print("stored:  " + ", ".join(f"{k}: {v}" for k, v in sorted(report.formats.items())))
    console.print(f"imbalance ratio (largest / smallest class): {report.imbalance_ratio:.1f}")
    rows = [{"class": name, "images": count, "train": report.train_counts.get(name, "—"),
             "target": report.targets.get(name, "—")} for name, count in zip(report.class_names, report.counts)]
    console.print(_table("Classes (train split and per-class targets as a run would use them)", rows))
    for problem in report.problems:
        console.print(f"[yellow]problem:[/yellow] {problem}")
    if not report.problems:
        console.print("no problems found")


@app.command()
def inspect(
    source: str = typer.Argument(..., help="a built-in set name or a path (folder, .parquet, .csv, .npz, IDX)"),
    config_path: Path = typer.Option(None, "--config", help="take the other data settings from this config"),
    format: str = typer.Option(None, "--format", help="auto, folder, parquet, csv, npz, idx or builtin"),
    label_column: str = typer.Option(None, "--label-column"),
    image_column: str = typer.Option(None, "--image-column"),
    image_size: int = typer.Option(None, "--image-size", help="resize to S×S"),
    channels: int = typer.Option(None, "--channels", help="1 or 3"),
) -> None:
    """Report class counts, imbalance, image sizes and modes, every problem, and a run's targets."""
    from gan_aug.config import parse_config
    from gan_aug.data.errors import DataError
    from gan_aug.data.inspect import inspect_source

    try:
        config = load_config(config_path) if config_path else AugmentConfig()
        overrides = {"source": source, "format": format, "label_column": label_column,
                     "image_column": image_column, "image_size": image_size, "channels": channels}
        data = {**config.data.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        config = parse_config({**config.model_dump(), "data": data}, origin="inspect options")
        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task("decoding images", total=None)
            report = inspect_source(config.data, config.generate.target_count,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
        _print_inspection(report)
    except ConfigError as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    except (DataError, ValueError) as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


@app.command()
def verify(run_dir: Path = typer.Argument(..., metavar="DIR", help="a run folder (holds manifest.json)")) -> None:
    """Check every shard and image file against the manifest's checksums and counts; exit 1 on any mismatch."""
    from gan_aug.shards import verify_shards

    with err_console.status("verifying checksums"):
        result = verify_shards(run_dir)
    for problem in result.problems[:200]:
        err_console.print(f"[red]mismatch:[/red] {problem}", highlight=False)
    if len(result.problems) > 200:
        err_console.print(f"… and {len(result.problems) - 200} more")
    summary = f"{result.shards} shard(s), {result.rows} rows, {result.images} image files checked"
    if not result.ok:
        err_console.print(f"[red]FAILED[/red]: {len(result.problems)} problem(s); {summary}")
        raise typer.Exit(1)
    console.print(f"OK: {summary}; every checksum and count matches {run_dir / 'manifest.json'}", highlight=False)


@app.command("config")
def show_config(demo: bool = typer.Option(False, "--demo", help="the demo's config instead")) -> None:
    """Print the default config as YAML: a starting point for your own."""
    typer.echo((demo_config() if demo else AugmentConfig()).to_yaml(), nl=False)


if __name__ == "__main__":
    app()
