"""FD acceptance: a class whose accepted samples stay far from its real images is flagged, and the
run follows the configured policy.

The judgement compares like with like: the matched FD (accepted samples vs half A of the class's
real images, at half A's size) over the floor (half A vs half B). Classes with too few real images
are not judged: two halves of four images say nothing about anything.
"""
from __future__ import annotations

from dataclasses import dataclass

FD_POLICIES = ("warn", "drop", "fail")


class FDAcceptanceError(RuntimeError):
    """Raised under ``filter.fd_policy: fail``; the message names each class and its ratio."""


def judge_class(quality: dict, *, max_ratio: float, min_real: int) -> str:
    """'ok', 'flagged' (matched FD above ``max_ratio`` × floor) or 'unjudged' (too few real images,
    or no floor to compare with)."""
    if quality.get("n_real", 0) < min_real or quality.get("fd_ratio") is None:
        return "unjudged"
    return "flagged" if quality["fd_ratio"] > max_ratio else "ok"


@dataclass(frozen=True)
class AcceptanceDecision:
    status: dict[int, str]  # class → ok / flagged / dropped / unjudged
    drop: list[int]  # classes whose synthetic rows are removed
    message: str | None  # a warning for the log when anything was flagged


def decide(quality: dict[int, dict], class_names: list[str] | tuple[str, ...], *, policy: str, max_ratio: float,
           min_real: int) -> AcceptanceDecision:
    """Judge every class and apply ``policy``: warn keeps the rows, drop removes that class's
    synthetic rows, fail raises FDAcceptanceError before anything is written."""
    if policy not in FD_POLICIES:
        raise ValueError(f"filter.fd_policy must be one of {', '.join(FD_POLICIES)}, got {policy!r}")
    status = {label: judge_class(q, max_ratio=max_ratio, min_real=min_real) for label, q in quality.items()}
    flagged = sorted(label for label, s in status.items() if s == "flagged")
    if not flagged:
        return AcceptanceDecision(status, [], None)
    details = ", ".join(f"{class_names[label]} (label {label}): FD {quality[label]['fd_matched']:.2f} is "
                        f"{quality[label]['fd_ratio']:.1f}× its real-vs-real floor {quality[label]['fd_floor']:.2f}"
                        for label in flagged)
    limit = f"above filter.fd_max_ratio = {max_ratio:g}"
    if policy == "fail":
        raise FDAcceptanceError(f"synthetic samples too far from the real data, {limit}: {details}. Nothing was "
                                "written; train longer, relax filter.fd_max_ratio, or set filter.fd_policy to "
                                "warn or drop")
    if policy == "drop":
        status.update({label: "dropped" for label in flagged})
        return AcceptanceDecision(status, flagged, f"dropped the synthetic rows of {len(flagged)} class(es) {limit}: "
                                  f"{details}")
    return AcceptanceDecision(status, [], f"{len(flagged)} class(es) kept although {limit}: {details}")
