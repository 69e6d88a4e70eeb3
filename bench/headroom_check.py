"""Issue 26's check: what the headroom (gan_aug.headroom) predicts, against what the bench measures.

The run's headroom is a straight line in log2(real rows) through the minority classes' score with their
real rows cut to ¼ and ½ and whole. On the bench the truth is at hand: the perfect-generator arm adds
real left-out images of those classes (dose 0.5, 1, 2: half, one and two more times the real rows), so

- the next doubling the curve predicts is checked against perfect at dose 1 − duplication, and the line
  carried to 1.5× and 3× the real rows against dose 0.5 and 2;
- a GAN lever's worth in real images read off the line is checked against the same score placed on the
  measured curve: the cut runs, duplication and the perfect arm, every point real images, linearly
  interpolated in log2(real rows).

The score is the pooled minority-class recall (their mean recall), the run's headroom score, on the test
set (means over seeds). The cut runs are trained here (``cut_runs``, 2 seeds, one results.json piece);
the run's own headroom on validation is printed beside them (``predicted_on_validation``).
"""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from gan_aug.headroom import Headroom, cut_rows
from gan_aug.mix import build_mix
from gan_aug.synthetic import SyntheticSet

FRACTIONS = (0.25, 0.5)
SEEDS = 2


def minority_score(entry: dict, minority: list[int]) -> float:
    """The pooled minority-class recall of a scored mix (its per-class recall is a mean over seeds)."""
    return float(np.mean(np.asarray(entry["per_class_recall"])[minority]))


def cut_runs(train, val, test, targets, minority: list[int], settings, seed: int, evaluate_downstream, device: str,
             piece) -> dict:
    """Each minority class's real rows cut to ¼ and ½ (the run's cuts), duplicated to the same targets,
    trained on ``SEEDS`` seeds and scored on test: one piece of results.json (``piece(compute)``)."""
    def compute() -> dict:
        found, nothing = {}, SyntheticSet.empty(train.images.shape[1:], "")
        for fraction in FRACTIONS:
            cut = cut_rows(train, minority, fraction, seed)
            mix = build_mix(cut, nothing, targets, 0.0, seed=seed)
            scored = evaluate_downstream(cut, mix, test, settings.model_copy(update={"seeds": SEEDS}), device=device,
                                         methods=("gan",), val=val)["methods"]["gan"]
            found[f"{fraction:g}"] = {**scored, "real_rows": cut.class_counts()[minority].tolist()}
        return found

    return piece(compute)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def check(cuts: dict, duplication: dict, perfect: dict[str, dict], levers: dict[str, dict], minority: list[int],
          real_rows: int) -> dict:
    """Predicted against measured: per perfect dose, the line's gain at that many more real images and the
    measured gain over duplication; per GAN lever, its worth in real images off the line and off the
    measured curve. ``perfect``: dose text → entry; ``levers``: name → (dose, entry); ``real_rows``: the
    minority classes' real training rows, pooled."""
    rows = [sum(cuts[f"{f:g}"]["real_rows"]) for f in FRACTIONS] + [real_rows]
    scores = [minority_score(cuts[f"{f:g}"], minority) for f in FRACTIONS] + [minority_score(duplication, minority)]
    x = np.log2(rows)
    slope, intercept = _line(x, np.asarray(scores))
    at_all = intercept + slope * x[-1]
    doses = sorted((float(k), v) for k, v in perfect.items())
    more = {d: real_rows + e["synthetic_rows"] for d, e in doses}  # a dose's allowance is floored per class
    predicted = [{"dose": d, "real_rows": more[d], "predicted": slope * np.log2(more[d] / real_rows),
                  "measured": minority_score(e, minority) - scores[-1]} for d, e in doses]
    measured_x = np.r_[x, [np.log2(more[d]) for d, _ in doses]]
    measured_y = np.r_[scores, [minority_score(e, minority) for _, e in doses]]
    order = np.argsort(measured_x)
    worth = []
    for name, (dose, entry) in levers.items():
        score = minority_score(entry, minority)
        line = float(np.exp2(x[-1] + (score - at_all) / slope) - real_rows) if slope > 0 else None
        curve = _on_measured(score, measured_x[order], measured_y[order], real_rows)
        worth.append({"lever": name, "dose": dose, "score": score, "vs_duplication": score - scores[-1],
                      "worth_predicted": line, "worth_measured": curve})
    return {"rows": rows, "scores": scores, "per_doubling": slope, "doses": predicted, "worth": worth}


def _on_measured(score: float, x: np.ndarray, y: np.ndarray, real_rows: int) -> float | None:
    """The real rows at which the measured curve (made monotone by isotonic regression: noise can make a
    larger dose score lower) reaches ``score``, less the real rows; None outside its range."""
    fitted = IsotonicRegression().fit(x, y).predict(x)
    levels, first = np.unique(fitted, return_index=True)
    if not levels[0] <= score <= levels[-1] or len(levels) < 2:
        return None
    return float(np.exp2(np.interp(score, levels, x[first])) - real_rows)


def predicted_on_validation(room: Headroom | None) -> str:
    """What a run on this split tells its user (the policy's own headroom on validation)."""
    if room is None:
        return "the policy's grid measured no headroom (made before it existed, or mix.headroom off)"
    worth = f" {room.worth.says[0].upper()}{room.worth.says[1:]}." if room.worth else ""
    return f"{room.says}{worth}"


def print_check(found: dict, validation: str) -> None:
    print("\nheadroom check (issue 26): the real rows' curve on test (minority rows cut to ¼, ½, all; "
          f"{SEEDS} seeds for the cuts) against the perfect generator's real left-out images")
    print(f"  curve: real rows {found['rows']}, pooled minority recall "
          f"{', '.join(f'{100 * s:.1f}' for s in found['scores'])}: {100 * found['per_doubling']:+.1f} points per "
          "doubling")
    print("\n| more real images (perfect dose) | pooled rows | predicted gain (line) | measured gain (perfect − "
          "duplication) |\n|---|---|---|---|")
    for d in found["doses"]:
        print(f"| {d['dose']:g} | {d['real_rows']:.0f} | {100 * d['predicted']:+.1f} | {100 * d['measured']:+.1f} |")
    print("\n| GAN lever | dose | pooled minority recall | vs duplication | worth in real images: off the line | "
          "off the measured curve |\n|---|---|---|---|---|---|")
    for w in found["worth"]:
        cells = [w["lever"], f"{w['dose']:g}", f"{100 * w['score']:.1f}", f"{100 * w['vs_duplication']:+.1f}",
                 "—" if w["worth_predicted"] is None else f"{w['worth_predicted']:+.0f}",
                 "outside the measured curve" if w["worth_measured"] is None else f"{w['worth_measured']:+.0f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"\n  the run's own headroom, on validation: {validation}", flush=True)
