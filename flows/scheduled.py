"""The entry point for deployments: a config file in, one run folder per scheduled run out.

Deployment parameters must be plain JSON, so the config travels as a path to a YAML file (read and
validated on the worker). ``out_dir`` may name ``{name}`` (the config's name) and ``{date}`` (the
run's scheduled date, UTC): each night's run of a growing data set gets its own folder, while a
retry of the same night's run finds its folder and resumes it.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.augment import run_augment
from gan_aug.config import ConfigError, load_config


def format_out_dir(template: str, name: str, scheduled: dt.datetime | None) -> str:
    """Fill ``{name}`` and ``{date}`` (YYYY-MM-DD of the scheduled start, UTC; today if unscheduled)."""
    when = (scheduled or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    try:
        return template.format(name=name, date=when.strftime("%Y-%m-%d"))
    except (KeyError, IndexError, ValueError) as error:
        raise ConfigError(f"out_dir {template!r}: only {{name}} and {{date}} can be filled in ({error})") from None


@flow(name="augment-scheduled", log_prints=True)
def augment_scheduled(config_path: str, out_dir: str = "runs/{name}/{date}") -> dict:
    """Balance the data set the config file describes; the deployments' entry point."""
    config = load_config(Path(config_path))
    out = format_out_dir(out_dir, config.name, flow_run.scheduled_start_time)
    get_run_logger().info("config %s → run folder %s", config_path, out)
    return run_augment(config, out)
