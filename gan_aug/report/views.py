"""The report's views of what shipped and why: the verdict, usefulness per class, the mix and its
validation curve, how the GAN training ended, and the methods compared. Plain dicts and strings for the
template (and the CLI), built from the metrics; figures go inline as data URIs.

Every key beyond the original schema is optional: metrics written before the mix existed render with
these sections left out or dashed, never with an error.
"""
from __future__ import annotations

from gan_aug.report.formatting import fmt, fmt_short, png_data_uri
from gan_aug.report.mix_plots import distribution_png, mix_curve_png, usefulness_png
from gan_aug.report.tables import mix_table_rows, usefulness_table_rows
from gan_aug.report.verdict import named_classes, verdict

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


def _names(metrics: dict, labels) -> list[str]:
    names = {int(c["label"]): str(c["name"]) for c in metrics["classes"]}
    return [names.get(int(label), str(label)) for label in labels]


def verdict_view(metrics: dict) -> dict:
    found = verdict(metrics)
    return {"tone": found.tone, "headline": found.lead, "text": found.text}


def gan_method_text(metrics: dict) -> str:
    """What the 'gan' method trains on: the shipped split as written, with its synthetic rows' weight."""
    mix = metrics.get("mix") or {}
    weight = f" at loss weight {mix['weight']:g}" if mix.get("weight") is not None and mix.get("dose") else ""
    late = f", drawn only after {100 * mix['late_from']:.0f}% of training" if mix.get("late_from") else ""
    return (f"the GAN's mix (the training split as shipped: real rows, synthetic rows{weight}{late} and "
            "duplicated real rows)")


def methods_text(metrics: dict) -> str:
    """The methods that ran, in the order they ran, in words."""
    methods = (metrics.get("downstream") or {}).get("methods") or {}
    return ", ".join(gan_method_text(metrics) if name == "gan" else METHOD_TEXT.get(name, name) for name in methods)


def few_shot_view(metrics: dict) -> dict | None:
    """Which classes few-shot recall averages over (the rarest in the training split)."""
    labels = (metrics.get("downstream") or {}).get("few_shot_classes")
    return None if not labels else {"labels": list(labels), "names": named_classes(_names(metrics, labels))}


def _ships(row: dict, mix: dict) -> str:
    """Whether the class got synthetic rows, and if not why."""
    if row["synthetic"]:
        return f"yes, dose {fmt_short(row['dose'])}"
    if not row["accepted"]:
        return "none needed" if not row.get("needed") else "none accepted"
    if row["eligible"] is False and row["label_agreement"] is not None and mix.get("min_agreement") is not None:
        return f"no: agreement below {mix['min_agreement']:g}"
    return "no"


def usefulness_view(metrics: dict) -> dict | None:
    """Per class usefulness rows with whether each class shipped synthetic rows; None for metrics that
    measured none."""
    rows = usefulness_table_rows(metrics, digits=None)
    if not any(row[key] is not None for row in rows for key in MEASURES):
        return None
    mix, overall = metrics.get("mix") or {}, metrics.get("usefulness") or {}
    needed = {c["label"]: c.get("needed") for c in metrics["classes"]}
    rows = [{**row, "ships": _ships({**row, "needed": needed[row["label"]]}, mix),
             "ineligible": row["eligible"] is False and bool(row["accepted"])} for row in rows]
    return {"rows": rows, "plot": _uri(usefulness_png(metrics)), "min_agreement": mix.get("min_agreement"),
            "has_cas": any(row["cas"] is not None for row in rows), "cas_overall": overall.get("cas_overall"),
            "real_overall": overall.get("real_overall"), "cas_samples": overall.get("cas_samples")}


def mix_choice(metrics: dict) -> dict | None:
    """The mix the run chose: its settings and reason, the classes allowed synthetic rows and those whose
    rows were recognised too rarely, and its validation curve; None for metrics written before the mix."""
    mix = metrics.get("mix")
    if not mix:
        return None
    eligible = set(mix.get("eligible") or [])
    offered = [c["label"] for c in metrics["classes"] if c.get("accepted") and c["label"] not in eligible]
    return {**{key: mix.get(key) for key in ("policy", "dose", "weight", "late_from", "reason", "min_agreement",
                                              "seeds", "steps")},
            "eligible": named_classes(_names(metrics, sorted(eligible)), 40) or "none",
            "ineligible": named_classes(_names(metrics, offered), 40),
            "curve": mix_table_rows(metrics, digits=None) if mix.get("curve") else []}


def mix_view(metrics: dict) -> dict:
    """The Mix section: the training split as shipped, always; the choice and its validation curve when
    the run chose a mix."""
    choice = mix_choice(metrics)
    return {"shipped_plot": _uri(distribution_png(metrics)),
            "choice": None if choice is None else {**choice, "plot": _uri(mix_curve_png(metrics))}}


def mix_text(metrics: dict) -> str | None:
    """The mix in words, for text outputs: what shipped, how it was chosen, why, and which classes could
    have synthetic rows; None for metrics written before the mix."""
    view = mix_choice(metrics)
    if view is None:
        return None
    shipped = (f"dose {fmt_short(view['dose'])}, weight {fmt_short(view['weight'])}" if view["dose"]
               else "no synthetic rows")
    how = "chosen on validation" if view["policy"] == "validation" else f"policy {view['policy']}"
    text = f"Mix shipped: {shipped} ({how}). Why: {view['reason']}. Classes allowed synthetic rows: {view['eligible']}."
    return text + (f" Not allowed (recognised too rarely): {view['ineligible']}." if view["ineligible"] else "")


def _budget_text(budget: dict) -> str:
    steps = f"{budget['steps']} steps" if budget["steps"] else "no step limit"
    seconds = f"{fmt(budget['seconds'], 0)} s" if budget["seconds"] else "no time limit"
    return f" (budget: {steps}, {seconds})"


def training_line(name: str, run: dict, class_name: str) -> str:
    """'Shared GAN stopped early at step 200 of 1500, after 12.5 s of training: … (budget: …).'"""
    who = "Shared GAN" if name == "shared" else f"GAN of class {class_name}"
    budget, reason = run["budget"], run["stop_reason"]
    of = f" of {budget['steps']}" if budget["steps"] else ""
    how, why = STOP_TEXT.get(reason, (f"stopped ({reason})" if reason else "trained", ""))
    text = (f"{who} {how} at step {run['steps']}{of}, after {fmt(run['train_seconds'], 1)} s of training{why}"
            f"{_budget_text(budget)}")
    if run["resumed_from"]:
        text += f"; resumed from step {run['resumed_from']}"
    return text + "."


def training_view(metrics: dict) -> list[str]:
    """One sentence per trained GAN: why and when it stopped."""
    runs = (metrics.get("training") or {}).get("runs") or {}
    names = {str(c["label"]): str(c["name"]) for c in metrics["classes"]}
    return [training_line(name, run, names.get(name, name)) for name, run in runs.items()]
