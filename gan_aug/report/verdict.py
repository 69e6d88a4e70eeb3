"""The run's answer in one sentence: did synthetic rows help a classifier, by how much, how sure, and
for which classes. The HTML report, the markdown summary and the CLI all lead with it.

A difference is called a win only when its whole 95% interval (paired over seeds) lies above zero, and
a loss only when it lies below; an interval that contains zero is a tie, whatever the sign of its
mean. With one seed there is no interval, so no claim is made.
"""
from __future__ import annotations

from dataclasses import dataclass

from gan_aug.report.formatting import DASH

MINUS = "\u2212"
COMPARED = (("balanced_accuracy", "balanced accuracy"), ("few_shot_recall", "few-shot recall"))
MAX_NAMED_CLASSES = 8
HEADLINES = {"helped": "Synthetic rows helped", "hurt": "Synthetic rows hurt", "tie": "No clear difference",
             "unknown": "Not enough seeds to tell", "none": "No synthetic rows shipped", "unmeasured": "Not compared"}
OUTCOME_WORDS = {"win": "helped {}", "loss": "hurt {}", "tie": "tied in {}", "unknown": "no claim on {}"}


@dataclass(frozen=True)
class Verdict:
    """``tone``: helped, hurt, mixed, tie, unknown, none (nothing synthetic shipped) or unmeasured;
    ``text``: the sentence; ``outcomes``: per compared metric, win / tie / loss / unknown."""

    tone: str
    text: str
    outcomes: dict[str, str]

    @property
    def headline(self) -> str:
        """A few words for a glance: 'Synthetic rows helped', or per metric where the outcomes differ."""
        if self.tone in HEADLINES and (self.tone in ("none", "unmeasured") or len(set(self.outcomes.values())) == 1):
            return HEADLINES[self.tone]
        words = [OUTCOME_WORDS[self.outcomes[key]].format(metric) for key, metric in COMPARED if key in self.outcomes]
        return "; ".join(words).capitalize()

    @property
    def lead(self) -> str | None:
        """The headline to print above the sentence, unless the sentence already opens with it."""
        return None if self.text.startswith(self.headline) else self.headline


def outcome(comparison: dict | None) -> str:
    """'win' or 'loss' when the interval excludes zero on that side, 'tie' when it contains zero,
    'unknown' without an interval."""
    ci = (comparison or {}).get("ci")
    if not ci or ci[0] is None or ci[1] is None:
        return "unknown"
    return "win" if ci[0] > 0 else ("loss" if ci[1] < 0 else "tie")


def points(value: float, signed: bool = True) -> str:
    """A difference of two shares in percentage points: 0.012 -> '+1.2' (a real minus sign for losses)."""
    text = f"{100 * value:+.1f}" if signed else f"{abs(100 * value):.1f}"
    return text.replace("-", MINUS)


def _interval(ci: list) -> str:
    return f"[{points(ci[0])}, {points(ci[1])}]"


def _seeds(comparison: dict) -> str:
    return f"{comparison.get('wins', DASH)}/{len(comparison.get('per_seed') or [])} seeds"


def _clause(comparison: dict, metric: str, against: str) -> str:
    """One metric's comparison, worded by its outcome: beat / lost to / tied with."""
    result, diff = outcome(comparison), comparison["mean_diff"]
    if result == "win":
        return (f"beat {against} by {points(diff)} points of {metric} {_interval(comparison['ci'])} "
                f"({_seeds(comparison)})")
    if result == "loss":
        return (f"lost to {against} by {points(diff, signed=False)} points of {metric} "
                f"{_interval(comparison['ci'])} ({_seeds(comparison)} won)")
    if result == "tie":
        return (f"tied with {against} in {metric} ({points(diff)} points, but the interval "
                f"{_interval(comparison['ci'])} contains 0; {_seeds(comparison)} won)")
    return f"differed from {against} by {points(diff)} points of {metric} (one seed: no interval, no claim)"


def comparisons(metrics: dict) -> tuple[str | None, dict[str, dict]]:
    """The baseline and, per compared metric, the GAN's mix paired with it (the 'gan' method first)."""
    compared = (metrics.get("downstream") or {}).get("comparison") or {}
    main = compared.get("gan") or next(iter(compared.values()), None)
    if not main:
        return None, {}
    found = {"balanced_accuracy": main, "few_shot_recall": main.get("few_shot_recall")}
    return main.get("baseline"), {key: c for key, c in found.items() if c and c.get("mean_diff") is not None}


def _tone(outcomes: dict[str, str]) -> str:
    values = set(outcomes.values())
    if not values:
        return "unmeasured"
    if "win" in values:
        return "mixed" if "loss" in values else "helped"
    return "hurt" if "loss" in values else ("tie" if "tie" in values else "unknown")


def _comparison_text(subject: str, metrics: dict) -> tuple[str, dict[str, str]]:
    """'<subject> beat the best baseline (x) by … and tied with it in …', and each metric's outcome."""
    baseline, found = comparisons(metrics)
    if not found:
        return f"{subject} was not compared with a baseline (no downstream evaluation)", {}
    clauses = [_clause(found[key], metric, f"the best baseline ({baseline})" if not index else "it")
               for index, (key, metric) in enumerate((k, m) for k, m in COMPARED if k in found)]
    return f"{subject} {' and '.join(clauses)}", {key: outcome(found[key]) for key in found}


def named_classes(names: list[str], limit: int = MAX_NAMED_CLASSES) -> str:
    """'a, b, c', or 'a, b, … and 5 more' beyond ``limit``."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def shipped_classes_text(metrics: dict) -> str:
    """'8 of the 9 classes that needed rows (all but d)': which classes got synthetic rows, naming the
    shorter of the two lists."""
    needing = [entry for entry in metrics["classes"] if entry.get("needed", 1)]
    names = [str(entry["name"]) for entry in needing if entry.get("used")]
    others = [str(entry["name"]) for entry in needing if not entry.get("used")]
    if not others:
        return f"all {len(names)} classes that needed rows" if len(names) > 1 else f"class {named_classes(names)}"
    listed = f"all but {named_classes(others)}" if len(others) < len(names) else named_classes(names)
    return f"{len(names)} of the {len(needing)} classes that needed rows ({listed})"


def _shipped_text(metrics: dict) -> str:
    mix = metrics.get("mix") or {}
    settings = []
    if mix.get("dose") is not None:
        settings.append(f"{'fixed ' if mix.get('policy') == 'fixed' else ''}dose {mix['dose']:g}")
    if mix.get("weight") is not None:
        settings.append(f"weight {mix['weight']:g}")
    at = f", at {', '.join(settings)}" if settings else ""
    return f"synthetic rows shipped for {shipped_classes_text(metrics)}{at}"


def no_synthetic_reason(metrics: dict) -> str:
    """Why nothing synthetic shipped, from the mix the run chose."""
    mix = metrics.get("mix") or {}
    reason = f" ({mix['reason']})" if mix.get("reason") else ""
    if not any(entry.get("accepted") for entry in metrics["classes"]):
        return "no class had accepted synthetic rows to ship"
    if mix and not mix.get("eligible"):
        share = f" {100 * mix['min_agreement']:.0f}%" if mix.get("min_agreement") is not None else " enough"
        return ("no class's synthetic rows passed the label-agreement gate (a classifier trained on real rows "
                f"recognised fewer than{share} of them)")
    if mix.get("policy") == "validation" and not mix.get("dose"):
        return f"on validation they did not beat duplication by more than the noise{reason}"
    if mix.get("policy") == "fixed" and not mix.get("dose"):
        return f"the mix is fixed at dose 0{reason}"
    return "none of the accepted synthetic rows were kept (see Filters: FD acceptance)"


def verdict(metrics: dict) -> Verdict:
    """The run's verdict (module docstring): what shipped, and how the shipped split did against the best
    baseline in balanced accuracy and few-shot recall."""
    if not any(entry.get("used") for entry in metrics["classes"]):
        text, outcomes = _comparison_text("The shipped split (real rows, duplicated to balance)", metrics)
        return Verdict("none", f"No synthetic rows shipped: {no_synthetic_reason(metrics)}. {text}.", outcomes)
    text, outcomes = _comparison_text("The GAN's mix", metrics)
    return Verdict(_tone(outcomes), f"{text}; {_shipped_text(metrics)}.", outcomes)


def verdict_text(metrics: dict) -> str:
    """The verdict's sentence, for text outputs (the CLI, the markdown summary)."""
    return verdict(metrics).text
