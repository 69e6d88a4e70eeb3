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
"""
from __future__ import annotations

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
from gan_aug.parallel import classifier_workers, run_all
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
    jobs, trained_as, seen = [], [], {}  # a point whose mix equals an earlier one's is trained once
    for dose, weight in points:
        mix = build_mix(train, accepted, targets, class_doses(dose, eligible, train.num_classes), weight=weight,
                        late_from=cfg.defer, seed=cfg.seed)
        key = mix.fingerprint()
        if key not in seen:
            seen[key] = len(seen)
            jobs += [(METHOD_REGISTRY["gan"](train, mix, seed), val, settings, seed, device) for seed in seeds]
        trained_as.append(seen[key])
    nothing = SyntheticSet.empty(train.images.shape[1:], "")
    for cut in cuts:  # duplication to the same targets, from fewer real rows
        mix = build_mix(cut, nothing, targets, 0.0, seed=cfg.seed)
        jobs += [(METHOD_REGISTRY["gan"](cut, mix, seed), val, settings, seed, device) for seed in seeds]
    hits = []
    workers = classifier_workers(settings, device, len(jobs), train.images.shape[1:])
    for done, hit in enumerate(run_all(_validation_hits, jobs, workers, what="validation classifier run")):
        hits.append(hit)
        if progress is not None:
            progress(done + 1, len(jobs))
    # Per distinct mix (then per cut) and validation image, the share of seeds whose classifier got it right.
    trained = [np.mean(hits[i:i + len(seeds)], axis=0) for i in range(0, len(hits), len(seeds))]
    correct = [trained[i] for i in trained_as] + trained[len(seen):]
    choice = _pick(points, correct[:len(points)], val, eligible, cfg, accepted, train, targets)
    if not cuts:
        return choice
    return replace(choice, headroom=_headroom(choice, points, correct, cuts, train, val, minority, cfg))


def _headroom(choice: MixChoice, points, correct, cuts: list[ImageSet], train: ImageSet, val: ImageSet,
              minority: list[int], cfg: MixConfig) -> headroom.Headroom:
    """The curve from the cuts and the grid's duplication point; the shipped mix valued on it, or, when
    no synthetic rows ship, the grid's best point that has some (marked as not shipped)."""
    curve = choice.curve
    shipped = next(i for i, p in enumerate(curve) if (p["dose"], p["weight"]) == (choice.dose, choice.weight)
                   or (p["dose"] == 0 and choice.dose == 0))
    synthetic = [i for i, p in enumerate(curve) if p["dose"] > 0 and p["synthetic_rows"] > 0]
    valued = shipped if curve[shipped]["dose"] > 0 else max(synthetic, key=lambda i: curve[i]["balanced_accuracy"],
                                                              default=None)
    mix = None if valued is None else {
        "hits": correct[valued], "shipped": valued == shipped, "dose": curve[valued]["dose"],
        "weight": curve[valued]["weight"], "synthetic_rows": curve[valued]["synthetic_rows"]}
    rows = [cut.class_counts()[minority] for cut in cuts] + [train.class_counts()[minority]]
    none = points.index((0.0, 1.0))
    return headroom.measure([*correct[len(points):], correct[none]], np.asarray(rows), [*cfg.headroom, 1.0],
                            val.labels, minority, cfg.seeds, cfg.bootstrap_rounds, mix=mix, seed=cfg.seed)


def _validation_hits(job: tuple) -> np.ndarray:
    """One classifier run on one grid point's mix: which validation images it gets right."""
    training, val, settings, seed, device = job
    model = fit_method("gan", training, settings, seed, device, stop=early_stop(settings, val))
    return predict(model, val.images) == val.labels


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


def _pick(points, correct, val: ImageSet, eligible, cfg: MixConfig, accepted: SyntheticSet, train: ImageSet,
          targets: np.ndarray) -> MixChoice:
    scores = [balanced_accuracy(c, val.labels) for c in correct]
    none = points.index((0.0, 1.0))  # duplication only: always on the grid, always shippable
    z = clearing_z(cfg.confidence, sum(1 for dose, _ in points if dose > 0))
    gain_se = [paired_standard_error(c, correct[none], val.labels, cfg.bootstrap_rounds) for c in correct]
    clears = [i == none or (points[i][0] > 0 and scores[i] - scores[none] > z * gain_se[i])
              for i in range(len(points))]
    top = max((i for i in range(len(points)) if clears[i]), key=lambda i: (scores[i], -i))
    curve = []
    for i, ((dose, weight), score, c) in enumerate(zip(points, scores, correct)):
        se = paired_standard_error(c, correct[top], val.labels, cfg.bootstrap_rounds)
        rows = synthetic_rows(train, accepted, targets, class_doses(dose, eligible, train.num_classes))
        curve.append({"dose": dose, "weight": weight, "synthetic_rows": rows, "balanced_accuracy": score,
                      "vs_duplication": score - scores[none], "duplication_se": gain_se[i], "clears": clears[i],
                      "vs_top": score - scores[top], "standard_error": se,
                      "within_noise": clears[i] and score >= scores[top] - se})
    order = sorted(range(len(points)), key=lambda i: (curve[i]["synthetic_rows"], points[i][1]))
    chosen = next(i for i in order if curve[i]["within_noise"])
    dose, weight = points[chosen]
    return MixChoice("validation", dose, weight, cfg.defer, class_doses(dose, eligible, train.num_classes), eligible,
                     _reason(curve, chosen, top, len(val), z, cfg.confidence), curve)


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
