"""The dose and weight of synthetic rows, chosen on the validation split, never on test.

Each point of a small grid (dose: synthetic rows per real image of a class; weight: their loss
weight) builds the mix a run would ship, trains the evaluation classifier on it with a few seeds and
scores it on the validation images. Rare validation classes hold a handful of images, so every score
is partly luck, and the best of several points more so. Two rules follow, with standard errors of
paired differences estimated by a bootstrap over validation images, class by class:

- a point may ship synthetic rows only when its gain over "no synthetic rows" (duplication, always on
  the grid) has a lower one-sided bound above zero at ``mix.confidence``, Bonferroni-corrected for
  the number of points with synthetic rows;
- among the points that may ship (duplication always may), the one with the fewest synthetic rows
  (then the lowest weight) within one standard error of the best of them is chosen — the
  one-standard-error rule.

Choosing should cost less than training: points that build the same mix train once, and with
``mix.halving`` every mix trains on one seed first and only duplication and the better half of the
mixes not behind it train on the other seeds (successive halving; the rest stop and cannot ship).
"""
from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

import numpy as np
import torch

from gan_aug import headroom
from gan_aug.classify import balanced_accuracy, predict
from gan_aug.config import EvaluateConfig, MixConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate.methods import METHOD_REGISTRY
from gan_aug.evaluate.runner import early_stop, fit_method, with_steps
from gan_aug.mix.policy import MixChoice, class_doses, fixed_choice, grid
from gan_aug.mix.rows import build_mix, synthetic_allowance
from gan_aug.parallel import classifier_workers, run_all, worker_id
from gan_aug.progress import Progress
from gan_aug.synthetic import SyntheticSet


def choose_mix(train: ImageSet, val: ImageSet, accepted: SyntheticSet, targets: np.ndarray, eligible: list[int],
               cfg: MixConfig, evaluate: EvaluateConfig, *, device: torch.device | str = "cpu",
               progress: Progress | None = None) -> MixChoice:
    """Score every grid point on ``val`` and pick by the one-standard-error rule (module docstring);
    with ``mix.headroom`` fractions, the real rows' learning curve is scored in the same batch of runs
    (gan_aug.headroom) and kept on the choice. ``progress`` hears classifier runs done of the total."""
    if cfg.policy == "fixed":
        return fixed_choice(cfg, eligible, train.num_classes)
    settings = with_steps(evaluate.model_copy(update={"steps": cfg.steps or evaluate.steps}), len(train))
    points, seeds = grid(cfg), range(settings.seed, settings.seed + cfg.seeds)
    minority = headroom.minority_classes(train, targets) if cfg.headroom else []
    cuts = [headroom.cut_rows(train, minority, f, cfg.seed) for f in cfg.headroom] if minority else []
    mixes, trained_as, seen = [], [], {}  # a point whose mix equals an earlier one's is trained once
    for dose, weight in points:
        mix = build_mix(train, accepted, targets, class_doses(dose, eligible, train.num_classes), weight=weight,
                        late_from=cfg.defer, seed=cfg.seed)
        key = mix.fingerprint()
        if key not in seen:
            seen[key] = len(mixes)
            mixes.append((train, mix))
        trained_as.append(seen[key])
    nothing = SyntheticSet.empty(train.images.shape[1:], "")
    curve_mixes = [(cut, build_mix(cut, nothing, targets, 0.0, seed=cfg.seed)) for cut in cuts]
    none = trained_as[points.index((0.0, 1.0))]
    halving = cfg.halving and len(seeds) > 1 and len(mixes) > 2
    every = mixes + curve_mixes  # the grid's distinct mixes, then the curve's cuts
    runs = _Runs(every, val, settings, device, progress, planned=len(every) * len(seeds))
    # Round one: every grid mix on the first seed (every seed without halving), the curve's cuts on all.
    runs.add([(i, s) for i in range(len(mixes)) for s in (seeds[:1] if halving else seeds)])
    runs.add([(i, s) for i in range(len(mixes), len(every)) for s in seeds])
    runs.run()
    stopped = set()
    if halving:  # round two: duplication and the synthetic mixes still in the running, on the other seeds
        keep = _survivors([runs.stacked(i).mean(axis=0) for i in range(len(mixes))], none, val)
        stopped = set(range(len(mixes))) - keep
        runs.add([(i, s) for i in sorted(keep) for s in seeds[1:]])
        runs.replan()
        runs.run()
    per_seed = [runs.stacked(i) for i in range(len(every))]  # seeds × validation images, per mix
    choice = _pick(points, [per_seed[i].mean(axis=0) for i in trained_as], val, eligible, cfg, accepted, train,
                   targets, seeds=[len(per_seed[i]) for i in trained_as],
                   stopped={p for p, i in enumerate(trained_as) if i in stopped})
    choice = replace(choice, curve=[{**point, "workers": runs.workers(i)}
                                    for point, i in zip(choice.curve, trained_as)])
    if not cuts:
        return choice
    return replace(choice, headroom=_headroom(choice, points, [per_seed[i] for i in trained_as] + per_seed[len(mixes):],
                                              cuts, train, val, minority, cfg))


class _Runs:
    """Classifier runs on validation, added in rounds: (mix index, seed) → which validation images it got right,
    and the worker (``host:pid``) that ran it. ``mixes``: (real rows, mix) pairs, indexed by the keys."""

    def __init__(self, mixes: list, val: ImageSet, settings: EvaluateConfig, device, progress: Progress | None,
                 planned: int):
        self.mixes, self.val, self.settings, self.device, self.progress = mixes, val, settings, device, progress
        self.planned, self.done, self.pending, self.hits, self.ran_in = planned, 0, [], {}, {}

    def add(self, keys: list[tuple[int, int]]) -> None:
        """Runs (mix index, seed), to train at the next ``run``."""
        for index, seed in keys:
            real, mix = self.mixes[index]
            self.pending.append(((index, seed), (METHOD_REGISTRY["gan"](real, mix, seed), self.settings, seed,
                                                 self.device)))

    def replan(self) -> None:
        """The total is now what ran and what is pending (halving dropped the rest)."""
        self.planned = self.done + len(self.pending)

    def run(self) -> None:
        keys, jobs = [k for k, _ in self.pending], [j for _, j in self.pending]
        self.pending = []
        workers = classifier_workers(self.settings, self.device, len(jobs), self.val.images.shape[1:])
        found = run_all(_validation_hits, jobs, workers, what="validation classifier run", shared=(self.val,))
        for key, (hit, worker) in zip(keys, found):
            self.hits[key], self.ran_in[key] = hit, worker
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.planned)

    def stacked(self, index: int) -> np.ndarray:
        """A mix's hits seed by seed: seeds × validation images (their mean over seeds: the share right)."""
        return np.stack([h for (i, _), h in sorted(self.hits.items()) if i == index]).astype(np.float64)

    def workers(self, index: int) -> list[str]:
        """Where a mix's runs ran, seed by seed (``host:pid``)."""
        return [worker for (i, _), worker in sorted(self.ran_in.items()) if i == index]


def _headroom(choice: MixChoice, points, hits: list[np.ndarray], cuts: list[ImageSet], train: ImageSet,
              val: ImageSet, minority: list[int], cfg: MixConfig) -> headroom.Headroom:
    """The curve from the cuts and the grid's duplication point; the shipped mix valued on it, or, when
    no synthetic rows ship, the grid's best point that has some (marked as not shipped). ``hits``: per
    grid point then per cut, seeds × validation images."""
    curve = choice.curve
    shipped = next(i for i, p in enumerate(curve) if (p["dose"], p["weight"]) == (choice.dose, choice.weight)
                   or (p["dose"] == 0 and choice.dose == 0))
    synthetic = [i for i, p in enumerate(curve) if p["dose"] > 0 and p["synthetic_rows"] > 0]
    valued = shipped if curve[shipped]["dose"] > 0 else max(synthetic, key=lambda i: curve[i]["balanced_accuracy"],
                                                              default=None)
    mix = None if valued is None else {
        "hits": hits[valued], "shipped": valued == shipped, "dose": curve[valued]["dose"],
        "weight": curve[valued]["weight"], "synthetic_rows": curve[valued]["synthetic_rows"]}
    rows = [cut.class_counts()[minority] for cut in cuts] + [train.class_counts()[minority]]
    none = points.index((0.0, 1.0))
    return headroom.measure([*hits[len(points):], hits[none]], np.asarray(rows), [*cfg.headroom, 1.0],
                            val.labels, minority, cfg.seeds, cfg.bootstrap_rounds, mix=mix, seed=cfg.seed)


def _validation_hits(job: tuple, val: ImageSet) -> tuple[np.ndarray, str]:
    """One classifier run on one grid point's mix: which validation images it gets right, and where it ran.
    ``val`` is every run's (run_all's ``shared``: sent to a cluster once, not with each job)."""
    training, settings, seed, device = job
    model = fit_method("gan", training, settings, seed, device, stop=early_stop(settings, val))
    return predict(model, val.images) == val.labels, worker_id()


def paired_standard_error(a: np.ndarray, b: np.ndarray, labels: np.ndarray, rounds: int, seed: int = 0) -> float:
    """Standard error of balanced_accuracy(a) − balanced_accuracy(b) on these images, by resampling each
    class's images with replacement (both sides get the same draw: the difference is paired)."""
    rng, diff = np.random.default_rng(seed), a - b
    classes = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    per_class = [diff[rows[rng.integers(0, len(rows), size=(rounds, len(rows)))]].mean(axis=1) for rows in classes]
    return float(np.std(np.mean(per_class, axis=0), ddof=1)) if rounds > 1 else 0.0


def clearing_z(confidence: float, tests: int) -> float:
    """How many standard errors a gain must clear: the one-sided normal quantile at ``confidence``,
    Bonferroni-corrected for ``tests`` points."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / max(tests, 1))


def _survivors(correct: list[np.ndarray], none: int, val: ImageSet) -> set[int]:
    """Successive halving after one seed: duplication, and the better half of the synthetic mixes among
    those that scored at least as well as duplication (the others would need the remaining seeds to
    overturn a deficit before they could clear the bar; they stop, and cannot ship)."""
    scores = {i: balanced_accuracy(c, val.labels) for i, c in enumerate(correct)}
    synthetic = [i for i in scores if i != none]
    ahead = sorted((i for i in synthetic if scores[i] >= scores[none]), key=lambda i: (-scores[i], i))
    return {none, *ahead[:math.ceil(len(synthetic) / 2)]}


def _pick(points, correct, val: ImageSet, eligible, cfg: MixConfig, accepted: SyntheticSet, train: ImageSet,
          targets: np.ndarray, seeds: list[int] | None = None, stopped: set[int] = frozenset()) -> MixChoice:
    """``seeds``: per point, the classifier runs its hits average (default: mix.seeds); ``stopped``: points
    halving stopped after one seed, which may not ship."""
    scores = [balanced_accuracy(c, val.labels) for c in correct]
    none = points.index((0.0, 1.0))  # duplication only: always on the grid, always shippable
    z = clearing_z(cfg.confidence, sum(1 for dose, _ in points if dose > 0))
    gain_se = [paired_standard_error(c, correct[none], val.labels, cfg.bootstrap_rounds) for c in correct]
    clears = [i == none or (points[i][0] > 0 and i not in stopped and scores[i] - scores[none] > z * gain_se[i])
              for i in range(len(points))]
    seeds = seeds or [cfg.seeds] * len(points)
    top = max((i for i in range(len(points)) if clears[i]), key=lambda i: (scores[i], -i))
    curve = []
    for i, ((dose, weight), score, c) in enumerate(zip(points, scores, correct)):
        se = paired_standard_error(c, correct[top], val.labels, cfg.bootstrap_rounds)
        rows = synthetic_rows(train, accepted, targets, class_doses(dose, eligible, train.num_classes))
        curve.append({"dose": dose, "weight": weight, "synthetic_rows": rows, "balanced_accuracy": score,
                      "vs_duplication": score - scores[none], "duplication_se": gain_se[i], "clears": clears[i],
                      "vs_top": score - scores[top], "standard_error": se, "seeds": seeds[i],
                      "within_noise": clears[i] and score >= scores[top] - se})
    order = sorted(range(len(points)), key=lambda i: (curve[i]["synthetic_rows"], points[i][1]))
    chosen = next(i for i in order if curve[i]["within_noise"])
    dose, weight = points[chosen]
    reason = _reason(curve, chosen, top, len(val), z, cfg.confidence)
    if stopped:
        reason += (f"; {len(stopped)} of the {len(points) - 1} points with synthetic rows stopped after one seed "
                   "(successive halving: below duplication, or outside the better half) and could not ship")
    return MixChoice("validation", dose, weight, cfg.defer, class_doses(dose, eligible, train.num_classes), eligible,
                     reason, curve)


def synthetic_rows(train: ImageSet, accepted: SyntheticSet, targets: np.ndarray, doses: dict[int, float]) -> int:
    """How many synthetic rows a mix with these doses ships (a class cannot ship more than were accepted)."""
    have = np.bincount(accepted.labels.astype(np.int64), minlength=train.num_classes)
    return int(np.minimum(synthetic_allowance(train.class_counts(), targets, doses), have).sum())


def _reason(curve: list[dict], chosen: int, top: int, images: int, z: float, confidence: float) -> str:
    pick, best = curve[chosen], curve[top]
    name = lambda p: "no synthetic rows" if p["dose"] == 0 else f"dose {p['dose']:g}, weight {p['weight']:g}"  # noqa: E731
    synthetic = [p for p in curve if p["dose"] > 0]
    if chosen == top and pick["dose"] == 0 and synthetic:
        lead = max(synthetic, key=lambda p: p["vs_duplication"])
        if lead["vs_duplication"] > 0:
            return (f"no dose of synthetic rows beat duplicating real rows on validation ({images} images) at "
                    f"{confidence:.0%} confidence: the largest gain, {lead['vs_duplication']:+.3f} balanced accuracy "
                    f"({name(lead)}), had to exceed {z:.2f} standard errors ({z * lead['duplication_se']:.3f}): "
                    f"one-sided {confidence:.0%} confidence, Bonferroni-corrected for the {len(synthetic)} points "
                    "tried")
    if chosen == top and pick["dose"] == 0:
        return (f"no synthetic rows scored highest on validation ({pick['balanced_accuracy']:.3f} balanced accuracy "
                f"on {images} images): no dose of synthetic rows beat duplicating real rows")
    cleared = (f"; it beat duplication by {pick['vs_duplication']:+.3f}, more than {z:.2f} standard errors "
               f"({confidence:.0%} confidence, corrected for the points tried)") if pick["dose"] > 0 else ""
    if chosen == top:
        return (f"{name(pick)} scored highest on validation ({pick['balanced_accuracy']:.3f} balanced accuracy on "
                f"{images} images), and no point with fewer synthetic rows came within one standard error of it"
                + cleared)
    return (f"{name(pick)}: {pick['balanced_accuracy']:.3f} on validation ({images} images), within one standard "
            f"error ({pick['standard_error']:.3f}) of the top score {best['balanced_accuracy']:.3f} ({name(best)}); "
            "fewer synthetic rows are preferred unless more clear the noise" + cleared)
