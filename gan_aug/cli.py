"""The `gan-aug` command: run the pipeline from a config, run the demo, print the default config.

The flow lives in flows/ and imports Prefect; it is imported only when a command needs it,
so `import gan_aug` stays free of Prefect.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gan_aug.config import AugmentConfig, ConfigError, demo_config, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
err_console = Console(stderr=True)


def _table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for column in rows[0] if rows else []:
        table.add_column(str(column), justify="left" if column in ("method", "name", "comparison", "class") else "right")
    for row in rows:
        table.add_row(*("—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
                        for value in row.values()))
    return table


def _round(value: object) -> object:
    """One decimal for distances of 1 or more (they run to the hundreds), so the table fits 80 columns."""
    if isinstance(value, float) and abs(value) >= 1:
        return f"{value:.1f}"
    return value


def _run(config: AugmentConfig, out: Path) -> None:
    from flows.augment import run_augment  # Prefect is imported here, not at `import gan_aug`
    from gan_aug import report
    from gan_aug.io import read_json

    from gan_aug.checkpoint import CheckpointError
    from gan_aug.filters import FDAcceptanceError
    from gan_aug.metrics.extractors import InceptionWeightsMissing

    try:
        outputs = run_augment(config, out)
    except (ConfigError, ValueError, FDAcceptanceError, InceptionWeightsMissing, CheckpointError) as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    metrics = read_json(outputs["metrics"])
    downstream = {"method": "method", "accuracy": "acc", "balanced_accuracy": "bal. acc",
                  "balanced_accuracy_ci_low": "95% low", "balanced_accuracy_ci_high": "95% high",
                  "macro_f1": "macro-F1", "g_mean": "G-mean"}
    seeds = metrics.get("downstream", {}).get("seeds", [])
    console.print(_table(f"Downstream classifier on the real test set (means over {len(seeds)} seeds)",
                         [{title: row[key] for key, title in downstream.items()}
                          for row in report.downstream_table_rows(metrics)]))
    console.print(_table("GAN against the best baseline (balanced accuracy, paired over seeds)", [
        {k: v for k, v in row.items() if k != "metric"} for row in report.comparison_table_rows(metrics)]))
    columns = ("name", "real", "target", "generated", "accepted", "used", "final")
    console.print(_table("Per class", [{k: row[k] for k in columns} for row in report.class_table_rows(metrics)]))
    short = {"passed_discriminator": "D", "passed_label": "label", "passed_memorisation": "memo", "generated": "made",
             "acceptance": "FD"}  # narrow headers: a terminal is 80 columns wide
    console.print(_table("Filters: candidates made, then still kept after each filter in order", [
        {short.get(k, k): v for k, v in row.items()
         if k in ("name", "needed", "generated", "used", "acceptance") or k.startswith("passed_")}
        for row in report.filter_table_rows(metrics)]))
    quality = {"name": "name", "fd": "FD", "fd_floor": "floor", "fd_matched": "matched", "fd_ratio": "ratio",
               "kid": "KID", "kid_floor": "KID floor", "precision": "prec", "recall": "recall"}
    console.print(_table("Sample quality (floor: real vs real; ratio: matched FD / floor; report.html has intervals)",
                         [{title: row[key] if key in ("precision", "recall") else _round(row[key])
                           for key, title in quality.items()}
                          for row in report.quality_table_rows(metrics)]))
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
