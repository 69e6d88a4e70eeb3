"""The `gan-aug` command: run the pipeline from a config, run the demo, print the default config.

The flow lives in flows/ and imports Prefect; it is imported only when a command needs it,
so `import gan_aug` stays free of Prefect.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gan_aug.config import AugmentConfig, ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
err_console = Console(stderr=True)


def _table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for column in rows[0] if rows else []:
        table.add_column(str(column), justify="left" if column in ("method", "name", "comparison") else "right")
    for row in rows:
        table.add_row(*("—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
                        for value in row.values()))
    return table


def _run(config: AugmentConfig, out: Path) -> None:
    from flows.augment import run_augment  # Prefect is imported here, not at `import gan_aug`
    from gan_aug import report
    from gan_aug.io import read_json

    try:
        outputs = run_augment(config, out)
    except (ConfigError, ValueError) as error:
        err_console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    metrics = read_json(outputs["metrics"])
    console.print(_table("Downstream classifier on the real test set", report.downstream_table_rows(metrics)))
    console.print(_table("Gain of the augmented set", report.gain_table_rows(metrics)))
    columns = ("name", "real", "target", "generated", "accepted", "used", "final", "fd")
    console.print(_table("Per class", [{k: row[k] for k in columns} for row in report.class_table_rows(metrics)]))
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
    _run(AugmentConfig(), out)


@app.command("config")
def show_config() -> None:
    """Print the default config as YAML: a starting point for your own."""
    typer.echo(AugmentConfig().to_yaml(), nl=False)


if __name__ == "__main__":
    app()
