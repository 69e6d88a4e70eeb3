"""Progress callbacks shared by every entry point: the one callback type, thinning a stream of
updates to about ten, the log lines each long stage writes, and the bars.

The library's loops report every batch, record or image; a person wants about ten lines per stage.
The flow adds Prefect artifacts to these, the oversampler only logs them.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Iterator, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text


class Progress(Protocol):
    """How far some work is: ``done`` of ``total`` units (steps, images, rows, classifier runs), and,
    where the work has more to say, keyword details. A callback names the details it uses; a
    stage passes only these:

    - ``train_classifier``: ``loss`` (the batch's)
    - ``fit_method``: ``method``, ``seed`` and ``loss``
    - ``evaluate_downstream``: those, once per finished run (``loss`` None: no step ran), and ``steps``
      (the steps that ran: fewer than ``total`` when validation stopped the run)
    - ``train_gan``: ``record`` (the latest loss record, or an FD check's)
    - ``generate_class``: ``generated`` (samples drawn; ``done`` counts the accepted rows)
    - ``publish`` to the bars' listeners: ``stage``

    Loading, shard writing and choosing the mix pass none.
    """

    def __call__(self, done: int, total: int, /, **details: Any) -> None: ...


def with_details(progress: Progress, **fixed: Any) -> Progress:
    """``progress`` with some details added to every call (which method and seed a run is for)."""

    def report(done: int, total: int, /, **details: Any) -> None:
        progress(done, total, **fixed, **details)

    return report


def once_per_tenth(report: Progress) -> Progress:
    """Pass on only the first call in each tenth of the work (``done`` of ``total``), so a stage logs
    about ten lines however large it is."""
    reported: set[int] = set()

    def progress(done: int, total: int, /, **details: Any) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth not in reported:
            reported.add(tenth)
            report(done, total, **details)

    return progress


def published(stage: str, report: Progress) -> Progress:
    """A stage's progress callback: every call is published (the bars), ``report`` (a log line) only
    once per tenth of the work."""
    per_tenth = once_per_tenth(report)

    def progress(done: int, total: int, /, **details: Any) -> None:
        publish(stage, done, total)
        per_tenth(done, total, **details)

    return progress


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def training_log(logger: logging.Logger | logging.LoggerAdapter, name: str,
                 on_losses: Progress | None = None) -> Progress:
    """``train_gan``'s progress: a loss line each tenth of training and a line at every FD check.
    ``on_losses(step, total)`` runs with each loss line (the flow updates an artifact there)."""

    def losses(step: int, total: int, /, *, record: dict) -> None:
        logger.info("%s step %d/%d  loss_d %.3f  loss_g %.3f  %.0f images/s", name, step, total,
                    record["loss_d"], record["loss_g"], record["images_per_s"])
        if on_losses is not None:
            on_losses(step, total)

    losses_per_tenth = once_per_tenth(losses)  # records come every 50 steps, whatever the step count

    def progress(step: int, total: int, /, *, record: dict) -> None:
        publish(f"{name} training (steps)", step, total)
        if "fd" in record:
            logger.info("%s step %d: FD per class %s", name, step, {k: fmt(v) for k, v in record["fd"].items()})
        if "loss_d" in record:
            losses_per_tenth(step, total, record=record)

    return progress


def generation_log(logger: logging.Logger | logging.LoggerAdapter, name: str,
                   on_update: Progress | None = None) -> Progress:
    """``generate_class``'s progress: a line each tenth of the class's target."""

    def report(accepted: int, needed: int, /, *, generated: int) -> None:
        logger.info("class %s: %d/%d accepted of %d generated", name, accepted, needed, generated)
        if on_update is not None:
            on_update(accepted, needed)

    return published(f"class {name} generated (rows)", report)


class _RateColumn(ProgressColumn):
    """Units per second (steps, rows, runs), once there is a rate to show."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")


# --- progress bars --------------------------------------------------------------------------------
# Stages publish (stage, done, total); whoever listens (the CLI's bars, GANOverSampler(verbose=1))
# is called as a Progress with the stage as a detail. Tasks in other processes (Dask, Ray) publish
# to no one there: their logs still say it all.

MIX_STAGE = "choosing the mix on validation (classifier runs)"
_listeners: list[Progress] = []
_lock = threading.Lock()


def publish(stage: str, done: int, total: int) -> None:
    """Tell every listener how far ``stage`` is (``done`` of ``total`` units)."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(done, total, stage=stage)


@contextlib.contextmanager
def listening(listener: Progress) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


@contextlib.contextmanager
def progress_bars(console=None, enabled: bool = True) -> Iterator[None]:
    """Rich progress bars, one per stage, with rate and time left, while the block runs; nothing when
    ``enabled`` is false or the console is not a terminal (or a notebook)."""
    console = console or Console(stderr=True)
    if not enabled or not (console.is_terminal or console.is_jupyter):
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with RichProgress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def show(done: int, total: int, /, *, stage: str) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=max(total, done))

        with listening(show):
            yield
