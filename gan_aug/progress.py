"""Progress callbacks shared by every entry point: thin a stream of updates to about ten, and the
log lines each long stage writes.

The library's loops report every batch, record or image; a person wants about ten lines per stage.
The flow adds Prefect artifacts to these, the oversampler only logs them.
"""
from __future__ import annotations

import logging
from typing import Callable


def once_per_tenth(report: Callable[..., None]) -> Callable[..., None]:
    """Pass on only the first call in each tenth of the work (``done`` of ``total``), so a stage logs
    about ten lines however large it is."""
    reported: set[int] = set()

    def progress(done: int, total: int, *rest) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth not in reported:
            reported.add(tenth)
            report(done, total, *rest)

    return progress


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def training_log(logger: logging.Logger | logging.LoggerAdapter, name: str,
                 on_losses: Callable[[int, int], None] | None = None) -> Callable[[int, int, dict], None]:
    """``train_gan``'s progress: a loss line each tenth of training and a line at every FD check.
    ``on_losses(step, total)`` runs with each loss line (the flow updates an artifact there)."""

    def losses(step: int, total: int, record: dict) -> None:
        logger.info("%s step %d/%d  loss_d %.3f  loss_g %.3f  %.0f images/s", name, step, total,
                    record["loss_d"], record["loss_g"], record["images_per_s"])
        if on_losses is not None:
            on_losses(step, total)

    losses_per_tenth = once_per_tenth(losses)  # records come every 50 steps, whatever the step count

    def progress(step: int, total: int, record: dict) -> None:
        if "fd" in record:
            logger.info("%s step %d: FD per class %s", name, step, {k: fmt(v) for k, v in record["fd"].items()})
        if "loss_d" in record:
            losses_per_tenth(step, total, record)

    return progress


def generation_log(logger: logging.Logger | logging.LoggerAdapter, name: str,
                   on_update: Callable[[int, int], None] | None = None) -> Callable[[int, int, int], None]:
    """``generate_class``'s progress: a line each tenth of the class's target."""

    def report(accepted: int, needed: int, generated: int) -> None:
        logger.info("class %s: %d/%d accepted of %d generated", name, accepted, needed, generated)
        if on_update is not None:
            on_update(accepted, needed)

    return once_per_tenth(report)
