"""Serve ``augment_scheduled`` on a cron schedule from this process: no work pool, no worker.

    python deployments/serve.py                                  # data/demo.yaml every night at 02:00 UTC
    python deployments/serve.py --config data/fashion-mnist-lt.yaml --cron "0 3 * * 0" --name fashion-weekly

The process registers the deployment ``augment-scheduled/<name>`` with the Prefect API in
PREFECT_API_URL (a `prefect server start` or Prefect Cloud), then runs every run of it, scheduled
or triggered with `prefect deployment run`, as a subprocess of itself, until it is stopped
(Ctrl-C pauses the schedule). Runs execute in the repository root; ``--config`` and ``--out-dir``
are relative to the current directory, and become relative to the repository root when they lie in it
(the defaults, data/demo.yaml and runs/{name}/{date}, are in the repository).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = "data/demo.yaml"
DEFAULT_CRON = "0 2 * * *"
DEFAULT_OUT_DIR = "runs/{name}/{date}"
DEFAULT_NAME = "nightly-serve"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python deployments/serve.py",
        description="Serve the augment-scheduled flow as a deployment with a cron schedule (runs execute in this "
        "process's children, in the repository root). Needs PREFECT_API_URL pointing at a Prefect server.",
    )
    parser.add_argument("--config", default=None,
                        help=f"the run's YAML config, validated before serving (default: {DEFAULT_CONFIG} in the "
                        "repository)")
    parser.add_argument("--cron", default=DEFAULT_CRON, help=f"cron schedule (default: {DEFAULT_CRON!r})")
    parser.add_argument("--timezone", default="UTC", help="the cron schedule's time zone (default: UTC)")
    parser.add_argument("--out-dir", default=None,
                        help="run folder; may contain {name} (the config's name) and {date} (the run's scheduled "
                        f"date, UTC) (default: {DEFAULT_OUT_DIR} in the repository)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help=f"deployment name: augment-scheduled/<name> (default: {DEFAULT_NAME})")
    parser.add_argument("--limit", type=int, default=1,
                        help="most flow runs at once in this process (default: 1: runs share the machine's GPU)")
    parser.add_argument("--paused", action="store_true",
                        help="register the schedule paused: only runs triggered by hand execute")
    return parser.parse_args(argv)


def repo_relative(path: str, cwd: Path | None = None) -> str:
    """``path`` as the flow run will see it from the repository root: relative to the root when it lies under
    it, absolute otherwise. A relative ``path`` is taken relative to ``cwd`` (the invoking directory)."""
    resolved = Path(os.path.abspath((cwd or Path.cwd()) / path))
    try:
        return resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(resolved)


def build_deployment(args: argparse.Namespace, cwd: Path | None = None):
    """The RunnerDeployment to serve; call with the repository root as the working directory."""
    from prefect.schedules import Cron

    from flows.scheduled import augment_scheduled
    from gan_aug.config import load_config

    config_path = DEFAULT_CONFIG if args.config is None else repo_relative(args.config, cwd)
    out_dir = DEFAULT_OUT_DIR if args.out_dir is None else repo_relative(args.out_dir, cwd)
    load_config(REPO_ROOT / config_path)  # fail now, not at 2 a.m.
    return augment_scheduled.to_deployment(
        name=args.name,
        schedules=[Cron(args.cron, timezone=args.timezone, active=not args.paused)],
        parameters={"config_path": config_path, "out_dir": out_dir},
        description=f"gan-aug on {config_path}, cron {args.cron!r} ({args.timezone}), served by "
        "deployments/serve.py",
        tags=["gan-aug", "serve"],
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    cwd = Path.cwd()
    if str(REPO_ROOT) not in sys.path:  # `flows` without an installed package
        sys.path.insert(0, str(REPO_ROOT))
    os.chdir(REPO_ROOT)  # the entrypoint and the runs' relative paths are relative to the repository root
    deployment = build_deployment(args, cwd)

    from prefect import serve

    serve(deployment, limit=args.limit)


if __name__ == "__main__":
    main()
