"""Could more real images of the rare classes help this classifier at all, and what are the synthetic
rows worth counted in real ones?

The headroom is a learning curve of the real rows: the evaluation classifier trained with each
minority class's real training rows cut to a few fractions (``mix.headroom``, e.g. ¼ and ½; the
majority classes untouched, duplication to the same targets), beside the mix grid's "no synthetic
rows" point, which is the curve's last point (all the real rows). Each point is scored on the
validation images: per minority class (its recall) and pooled (their mean recall). A straight line in
log2(real rows) gives what a doubling of the real rare images adds; its interval comes from a bootstrap
over the classifier runs (seeds) and the validation images, class by class.

The worth of the synthetic rows places a mix's validation score on that line: the real rows it did as
much as, less the real rows it had. A count is given only where the curve is shown to rise (its
per-doubling lower bound above zero) and the count's interval spans at most twice the real rows;
otherwise "cannot tell", never a bare number. Under ``MIN_IMAGES`` validation images (pooled, or of a
class) nothing is claimed.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from gan_aug.data.imageset import ImageSet

FLAT = 0.01  # a curve whose per-doubling upper bound is under 1 point is flat: more images would not help
LEVEL = 0.95  # the bootstrap intervals' coverage
MAX_SPAN = 2.0  # a worth interval wider than this many times the real rows says "cannot tell"
# Fewer validation images than this claim nothing: a bootstrap over two images that every classifier gets
# right (or wrong) has no spread at all, and would call any curve flat.
MIN_IMAGES = 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Worth(_Frozen):
    """A mix's synthetic rows counted in real images of the same classes, on validation."""

    shipped: bool  # the mix that ships; otherwise the grid's best point with synthetic rows
    dose: float
    weight: float
    synthetic_rows: int
    score: float  # its validation score, pooled (or the class's recall)
    real_images: float | None  # the extra real images it did as much as; None: cannot tell
    interval: tuple[float, float] | None
    says: str


class ClassHeadroom(_Frozen):
    real_rows: list[int]  # at each fraction, then all
    score: list[float]  # validation recall at each
    per_doubling: float | None  # None: too few rows to cut (every fraction kept them all)
    per_doubling_ci: tuple[float, float] | None
    worth: Worth | None


class Headroom(_Frozen):
    """The real rows' learning curve on validation, pooled over the minority classes, and per class."""

    fractions: list[float]  # of each minority class's real training rows; the last is 1
    real_rows: list[int]  # pooled over the minority classes, at each fraction
    score: list[float]  # pooled validation score (mean recall over the minority classes) at each
    score_ci: list[tuple[float, float]]
    per_doubling: float  # what doubling the real rare images adds to the pooled score (a straight line's slope)
    per_doubling_ci: tuple[float, float]
    curve: Literal["flat", "rising", "unclear"]
    says: str  # one sentence for a reader
    worth: Worth | None  # None: the grid tried no synthetic rows
    per_class: dict[int, ClassHeadroom]
    seeds: int  # classifier runs per point
    validation_images: int  # of the minority classes


def minority_classes(train: ImageSet, targets: np.ndarray) -> list[int]:
    """Classes that duplication fills: fewer real rows than their target."""
    counts = train.class_counts()
    return [k for k in range(train.num_classes) if counts[k] < targets[k]]


def cut_rows(train: ImageSet, classes: list[int], fraction: float, seed: int) -> ImageSet:
    """Each class in ``classes`` cut to ceil(fraction × its rows) (at least one) by a seeded permutation;
    the other classes whole. The rows kept at a smaller fraction are among those kept at a larger one."""
    rng, keep = np.random.default_rng(seed), []
    for label in range(train.num_classes):
        rows = np.flatnonzero(train.labels == label)
        if label in classes:
            rows = rng.permutation(rows)[:max(1, math.ceil(fraction * len(rows)))]
        keep.append(rows)
    return train.subset(np.sort(np.concatenate(keep)))


def measure(hits: list[np.ndarray], real_rows: np.ndarray, fractions: list[float], val_labels: np.ndarray,
            minority: list[int], seeds: int, rounds: int, mix: dict | None = None, seed: int = 0) -> Headroom:
    """The headroom from per-image validation hits.

    ``hits``: one array per fraction (the last, 1, is the duplication point), each seeds × validation
    images (1: that seed's classifier got the image right; a 1-D array is one seed); ``real_rows``:
    (fractions, classes) real rows per minority class at each fraction. ``mix``: the point to value,
    {"hits", "shipped", "dose", "weight", "synthetic_rows"}.

    Each bootstrap round draws every point's seeds with replacement (the classifier's run-to-run noise:
    with two seeds it is as large as the curve's slope on the bench) and, class by class, the validation
    images (the same images for every point: the differences are paired)."""
    rng = np.random.default_rng(seed)
    rows_of = {k: np.flatnonzero(val_labels == k) for k in minority}
    draws = {k: rng.integers(0, len(rows), size=(rounds, len(rows))) for k, rows in rows_of.items()}
    points = [np.atleast_2d(np.asarray(p, dtype=np.float64)) for p in ([*hits, mix["hits"]] if mix else hits)]
    # Per point and round, its drawn seeds' mean hit per image: (rounds, images).
    resampled = [p[rng.integers(0, len(p), size=(rounds, len(p)))].mean(axis=1) for p in points]
    # recall[k]: (points, rounds) bootstrap recall of class k; its mean over the original images beside it.
    recall = {k: np.stack([np.take_along_axis(r[:, rows_of[k]], draw, axis=1).mean(axis=1) for r in resampled])
              for k, draw in draws.items()}
    exact = {k: np.array([p[:, rows].mean() for p in points]) for k, rows in rows_of.items()}
    pooled, pooled_exact = np.mean([recall[k] for k in minority], axis=0), np.mean([exact[k] for k in minority], axis=0)
    n = len(hits)
    total = np.asarray(real_rows).sum(axis=1)
    slope, slopes = _fit(np.log2(total), pooled_exact[:n], pooled[:n])
    per_class = {}
    for i, k in enumerate(minority):
        counts = np.asarray(real_rows)[:, i]
        if len(set(counts.tolist())) < 2:
            per_class[k] = ClassHeadroom(real_rows=counts.tolist(), score=exact[k][:n].tolist(), per_doubling=None,
                                         per_doubling_ci=None, worth=None)
            continue
        b, bs = _fit(np.log2(counts), exact[k][:n], recall[k][:n])
        per_class[k] = ClassHeadroom(
            real_rows=counts.tolist(), score=exact[k][:n].tolist(), per_doubling=b, per_doubling_ci=_ci(bs),
            worth=_worth(mix, np.log2(counts), exact[k], recall[k], int(counts[-1]), len(rows_of[k])) if mix else None)
    ci, images = _ci(slopes), sum(len(r) for r in rows_of.values())
    curve = "unclear" if images < MIN_IMAGES else "flat" if ci[1] < FLAT else "rising" if ci[0] > 0 else "unclear"
    worth = _worth(mix, np.log2(total), pooled_exact, pooled, int(total[-1]), images) if mix else None
    return Headroom(fractions=list(fractions), real_rows=total.tolist(), score=pooled_exact[:n].tolist(),
                    score_ci=[_ci(pooled[i]) for i in range(n)], per_doubling=slope, per_doubling_ci=ci, curve=curve,
                    says=_says(curve, slope, ci, int(total[-1]), images), worth=worth,
                    per_class=per_class, seeds=seeds, validation_images=images)


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x; ``y`` may be points × rounds (a slope per bootstrap round)."""
    xc = x - x.mean()
    return xc @ (y - y.mean(axis=0)) / (xc @ xc)


def _fit(x: np.ndarray, y: np.ndarray, ys: np.ndarray) -> tuple[float, np.ndarray]:
    """The slope for the exact scores and for each bootstrap round (``ys``: points × rounds)."""
    return float(_slope(x, y)), _slope(x, ys)


def _ci(values: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def _equivalent(x: np.ndarray, y: np.ndarray, y_mix: np.ndarray | float, have: int) -> np.ndarray:
    """Extra real rows a score is worth on the straight line through (x, y) (NaN where the line does not rise)."""
    slope = _slope(x, y)
    slope = np.where(slope > 0, slope, np.nan)
    at = x.mean() + (y_mix - y.mean(axis=0)) / slope
    return np.exp2(np.minimum(at, x.max() + 10)) - have  # past 1,024× the rows, any count is out of reach


def _worth(mix: dict, x: np.ndarray, exact: np.ndarray, rounds: np.ndarray, have: int, images: int) -> Worth:
    n = len(x)
    point = float(_equivalent(x, exact[:n], exact[n], have))
    spread = _equivalent(x, rounds[:n], rounds[n], have)
    rows = mix["synthetic_rows"]
    what = (f"the {rows} shipped synthetic rows" if mix["shipped"] else
            f"the {rows} synthetic rows of dose {mix['dose']:g}, weight {mix['weight']:g} "
            "(the best point, not shipped)")
    common = dict(shipped=mix["shipped"], dose=mix["dose"], weight=mix["weight"], synthetic_rows=rows,
                  score=float(exact[n]))
    if images < MIN_IMAGES:
        return Worth(**common, real_images=None, interval=None, says=(
            f"cannot tell what {what} are worth in real images: {images} validation images are too few "
            f"(at least {MIN_IMAGES})"))
    if np.mean(np.isnan(spread)) > (1 - LEVEL) / 2 or math.isnan(point):
        return Worth(**common, real_images=None, interval=None, says=(
            f"cannot tell what {what} are worth in real images: the real rows' curve is not "
            "shown to rise, so no count of real images can be read from it"))
    low, high = _ci(spread[~np.isnan(spread)])
    if high - low > MAX_SPAN * have:
        return Worth(**common, real_images=None, interval=None, says=(
            f"cannot tell what {what} are worth in real images: between {low:+.0f} and "
            f"{high:+.0f} more real ones ({LEVEL:.0%} interval), too wide beside the {have} real rows"))
    did = (f"did as much as about {abs(point):.0f} {'more' if point > 0 else 'fewer'} real images would"
           if round(point) else "did about as much as no extra real images would")
    return Worth(**common, real_images=point, interval=(low, high), says=(
        f"{what} {did} [{low:+.0f}, {high:+.0f}] (beside the {have} real ones; {LEVEL:.0%} interval, validation)"))


def _says(curve: str, slope: float, ci: tuple[float, float], have: int, images: int) -> str:
    where = f"(pooled minority-class recall on {images} validation images; {LEVEL:.0%} interval)"
    if images < MIN_IMAGES:
        return (f"Cannot tell whether more real images of the rare classes would help: their {images} validation "
                f"images are too few to measure it (at least {MIN_IMAGES}); doubling their {have} real rows changed "
                f"recall by {100 * slope:+.1f} points there.")
    if curve == "flat":
        return (f"More real images of the rare classes would hardly help this classifier: doubling their {have} "
                f"real rows adds {100 * slope:+.1f} points [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] {where}; "
                "no generator can help much here, effort is better spent elsewhere.")
    if curve == "rising":
        return (f"More real images of the rare classes would help: each doubling of their {have} real rows adds "
                f"about {100 * slope:+.1f} points [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] {where}, so the next "
                f"doubling ({have} more) likely adds that much; a generator has room to help.")
    return (f"Cannot tell whether more real images of the rare classes would help: doubling their {have} real rows "
            f"adds {100 * slope:+.1f} points [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] {where}, an interval too wide "
            "to say.")
