"""The report's views of what shipped and why: the verdict, usefulness per class, the mix and its
validation curve, how the GAN training ended, and the methods compared. Plain dicts and strings for the
template (and the CLI), built from the run's result; figures go inline as data URIs.
"""
from __future__ import annotations

from gan_aug.report.formatting import fmt, fmt_short, png_data_uri
from gan_aug.report.mix_plots import distribution_png, headroom_png, mix_curve_png, usefulness_png
from gan_aug.report.tables import mix_table_rows, usefulness_table_rows
from gan_aug.report.verdict import named_classes, verdict
from gan_aug.run_result import RunResult, TrainingRun

METHOD_TEXT = {
    "plain": "plain real data", "class_weighted": "class-weighted loss", "oversampled": "random oversampling",
    "smote": "SMOTE on pixels", "standard_aug": "oversampling with ordinary augmentation (shifts, flips)",
}
STOP_TEXT = {"steps": ("ran its whole step budget", ""), "time budget": ("stopped at its time budget", ""),
             "early stop": ("stopped early", ": no class's FD on held-out images improved for gan.early_stop_patience "
                                             "checks")}
MEASURES = ("label_agreement", "filter_val_recall", "cas", "real_recall")


def _uri(png: bytes | None) -> str | None:
    return png_data_uri(png) if png else None


def _names(result: RunResult, labels) -> list[str]:
    return [result.class_name(label) for label in labels]


def verdict_view(result: RunResult) -> dict:
    found = verdict(result)
    return {"tone": found.tone, "headline": found.lead, "text": found.text, "headroom": found.headroom}


def gan_method_text(result: RunResult) -> str:
    """What the 'gan' method trains on: the shipped split as written, with its synthetic rows' weight."""
    mix = result.mix
    weight = f" at loss weight {mix.weight:g}" if mix.dose else ""
    late = f", drawn only after {100 * mix.late_from:.0f}% of training" if mix.late_from else ""
    return (f"the GAN's mix (the training split as shipped: real rows, synthetic rows{weight}{late} and "
            "duplicated real rows)")


def methods_text(result: RunResult) -> str:
    """The methods that ran, in the order they ran, in words."""
    return ", ".join(gan_method_text(result) if name == "gan" else METHOD_TEXT.get(name, name)
                     for name in result.downstream.methods)


def few_shot_view(result: RunResult) -> dict | None:
    """Which classes few-shot recall averages over (the rarest in the training split)."""
    labels = result.downstream.few_shot_classes
    return None if not labels else {"labels": list(labels), "names": named_classes(_names(result, labels))}


def _ships(row: dict, min_agreement: float) -> str:
    """Whether the class got synthetic rows, and if not why."""
    if row["synthetic"]:
        return f"yes, dose {fmt_short(row['dose'])}"
    if not row["accepted"]:
        return "none needed" if not row["needed"] else "none accepted"
    if not row["eligible"] and row["label_agreement"] is not None:
        return f"no: agreement below {min_agreement:g}"
    return "no"


def usefulness_view(result: RunResult) -> dict | None:
    """Per class usefulness rows with whether each class shipped synthetic rows; None when nothing was measured."""
    rows = usefulness_table_rows(result, digits=None)
    if not any(row[key] is not None for row in rows for key in MEASURES):
        return None
    mix, overall = result.mix, result.usefulness
    rows = [{**row, "ships": _ships({**row, "needed": entry.needed}, mix.min_agreement),
             "ineligible": not row["eligible"] and bool(row["accepted"])} for row, entry in zip(rows, result.classes)]
    return {"rows": rows, "plot": _uri(usefulness_png(result)), "min_agreement": mix.min_agreement,
            "has_cas": any(row["cas"] is not None for row in rows), "cas_overall": overall.cas_overall,
            "real_overall": overall.real_overall, "cas_samples": overall.cas_samples}


def mix_choice(result: RunResult) -> dict:
    """The mix the run chose: its settings and reason, the classes allowed synthetic rows and those whose
    rows were recognised too rarely, and its validation curve."""
    mix = result.mix
    eligible = set(mix.eligible)
    offered = [c.label for c in result.classes if c.accepted and c.label not in eligible]
    return {**{key: getattr(mix, key) for key in ("policy", "dose", "weight", "late_from", "reason", "min_agreement",
                                                  "confidence", "seeds", "steps")},
            "eligible": named_classes(_names(result, sorted(eligible)), 40) or "none",
            "ineligible": named_classes(_names(result, offered), 40),
            "curve": mix_table_rows(result, digits=None) if mix.curve else []}


def mix_view(result: RunResult) -> dict:
    """The Mix section: the training split as shipped, and the choice with its validation curve."""
    return {"shipped_plot": _uri(distribution_png(result)),
            "choice": {**mix_choice(result), "plot": _uri(mix_curve_png(result))},
            "headroom": headroom_view(result)}


def headroom_view(result: RunResult) -> dict | None:
    """The Headroom subsection: the real rows' curve with the valued mix on it, its points, and per class."""
    room = result.headroom
    if room is None:
        return None
    points = [{"fraction": f, "real_rows": n, "score": s, "low": ci[0], "high": ci[1]}
              for f, n, s, ci in zip(room.fractions, room.real_rows, room.score, room.score_ci)]
    per_class = [{"name": result.class_name(k), "real_rows": c.real_rows, "score": c.score,
                  "per_doubling": c.per_doubling, "ci": c.per_doubling_ci,
                  "worth": c.worth.says if c.worth else "—"} for k, c in room.per_class.items()]
    return {"says": room.says, "worth": room.worth.says if room.worth else None, "points": points,
            "per_class": per_class, "seeds": room.seeds, "images": room.validation_images,
            "plot": _uri(headroom_png(result))}


def mix_text(result: RunResult) -> str:
    """The mix in words, for text outputs: what shipped, how it was chosen, why, and which classes could
    have synthetic rows."""
    view = mix_choice(result)
    shipped = (f"dose {fmt_short(view['dose'])}, weight {fmt_short(view['weight'])}" if view["dose"]
               else "no synthetic rows")
    how = "chosen on validation" if view["policy"] == "validation" else f"policy {view['policy']}"
    text = f"Mix shipped: {shipped} ({how}). Why: {view['reason']}. Classes allowed synthetic rows: {view['eligible']}."
    return text + (f" Not allowed (recognised too rarely): {view['ineligible']}." if view["ineligible"] else "")


def training_line(name: str, run: TrainingRun, class_name: str, generator: str = "gan") -> str:
    """'Shared GAN stopped early at step 200 of 1500, after 12.5 s of training: … (budget: …).'; a plug-in
    generator without training steps: 'Shared generator 'noisy-copies' fitted in 0.1 s.'"""
    kind = "GAN" if generator == "gan" else f"generator {generator!r}"
    who = f"Shared {kind}" if name == "shared" else f"{kind[0].upper()}{kind[1:]} of class {class_name}"
    if generator != "gan" and not run.steps:
        return f"{who} fitted in {fmt(run.train_seconds, 1)} s."
    budget, reason = run.budget, run.stop_reason
    of = f" of {budget.steps}" if budget.steps else ""
    how, why = STOP_TEXT.get(reason, (f"stopped ({reason})" if reason else "trained", ""))
    steps = f"{budget.steps} steps" if budget.steps else "no step limit"
    seconds = f"{fmt(budget.seconds, 0)} s" if budget.seconds else "no time limit"
    text = (f"{who} {how} at step {run.steps}{of}, after {fmt(run.train_seconds, 1)} s of training{why}"
            f" (budget: {steps}, {seconds})")
    if run.resumed_from:
        text += f"; resumed from step {run.resumed_from}"
    return text + "."


def training_view(result: RunResult) -> list[str]:
    """One sentence per trained GAN: why and when it stopped."""
    return [training_line(name, run, name if name == "shared" else result.class_name(name), result.training.generator)
            for name, run in result.training.runs.items()]
