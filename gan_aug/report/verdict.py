"""The run's answer in one sentence: did synthetic rows help a classifier, by how much, how sure, and
for which classes. The HTML report, the markdown summary and the CLI all lead with it.

Each comparison's outcome (win, tie, loss, or unknown with one seed) was decided by gan_aug.evaluate
from its 95% interval and is stored in the result; here it is only put into words.
"""
from __future__ import annotations

from dataclasses import dataclass

from gan_aug.report.tables import COMPARED, compared
from gan_aug.run_result import Comparison, RunResult

MINUS = "\u2212"
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
    headroom: str = ""  # could more real rare images help, and what the synthetic rows are worth in real ones

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


def points(value: float, signed: bool = True) -> str:
    """A difference of two shares in percentage points: 0.012 -> '+1.2' (a real minus sign for losses)."""
    text = f"{100 * value:+.1f}" if signed else f"{abs(100 * value):.1f}"
    return text.replace("-", MINUS)


def _interval(ci: tuple) -> str:
    return f"[{points(ci[0])}, {points(ci[1])}]"


def _seeds(comparison: Comparison) -> str:
    return f"{comparison.wins}/{len(comparison.per_seed)} seeds"


def _clause(comparison: Comparison, metric: str, against: str) -> str:
    """One metric's comparison, worded by its outcome: beat / lost to / tied with."""
    diff = comparison.mean_diff
    if comparison.outcome == "win":
        return (f"beat {against} by {points(diff)} points of {metric} {_interval(comparison.ci)} "
                f"({_seeds(comparison)})")
    if comparison.outcome == "loss":
        return (f"lost to {against} by {points(diff, signed=False)} points of {metric} "
                f"{_interval(comparison.ci)} ({_seeds(comparison)} won)")
    if comparison.outcome == "tie":
        return (f"tied with {against} in {metric} ({points(diff)} points, but the interval "
                f"{_interval(comparison.ci)} contains 0; {_seeds(comparison)} won)")
    return f"differed from {against} by {points(diff)} points of {metric} (one seed: no interval, no claim)"


def comparisons(result: RunResult) -> tuple[str | None, dict[str, Comparison]]:
    """The baseline and, per compared metric, the GAN's mix paired with it (the 'gan' method first)."""
    found = compared(result)
    name = "gan" if "gan" in found else next(iter(found), None)
    return (None, {}) if name is None else (result.downstream.comparison[name].baseline, found[name])


def _tone(outcomes: dict[str, str]) -> str:
    values = set(outcomes.values())
    if not values:
        return "unmeasured"
    if "win" in values:
        return "mixed" if "loss" in values else "helped"
    return "hurt" if "loss" in values else ("tie" if "tie" in values else "unknown")


def _comparison_text(subject: str, result: RunResult) -> tuple[str, dict[str, str]]:
    """'<subject> beat the best baseline (x) by … and tied with it in …', and each metric's outcome."""
    baseline, found = comparisons(result)
    if not found:
        return f"{subject} was not compared with a baseline (no downstream evaluation)", {}
    clauses = [_clause(found[key], metric, f"the best baseline ({baseline})" if not index else "it")
               for index, (key, metric) in enumerate((k, m) for k, m in COMPARED if k in found)]
    return f"{subject} {' and '.join(clauses)}", {key: found[key].outcome for key in found}


def named_classes(names: list[str], limit: int = MAX_NAMED_CLASSES) -> str:
    """'a, b, c', or 'a, b, … and 5 more' beyond ``limit``."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def shipped_classes_text(result: RunResult) -> str:
    """'8 of the 9 classes that needed rows (all but d)': which classes got synthetic rows, naming the
    shorter of the two lists."""
    needing = [entry for entry in result.classes if entry.needed]
    names = [entry.name for entry in needing if entry.used]
    others = [entry.name for entry in needing if not entry.used]
    if not others:
        return f"all {len(names)} classes that needed rows" if len(names) > 1 else f"class {named_classes(names)}"
    listed = f"all but {named_classes(others)}" if len(others) < len(names) else named_classes(names)
    return f"{len(names)} of the {len(needing)} classes that needed rows ({listed})"


def _shipped_text(result: RunResult) -> str:
    mix = result.mix
    settings = f"{'fixed ' if mix.policy == 'fixed' else ''}dose {mix.dose:g}, weight {mix.weight:g}"
    return f"synthetic rows shipped for {shipped_classes_text(result)}, at {settings}"


def no_synthetic_reason(result: RunResult) -> str:
    """Why nothing synthetic shipped, from the mix the run chose."""
    mix = result.mix
    if not any(entry.accepted for entry in result.classes):
        return "no class had accepted synthetic rows to ship"
    if not mix.eligible:
        return ("no class's synthetic rows passed the label-agreement gate (a classifier trained on real rows "
                f"recognised fewer than {100 * mix.min_agreement:.0f}% of them)")
    if not mix.dose:
        how = "on validation they did not beat duplication by more than the noise" if mix.policy == "validation" \
            else "the mix is fixed at dose 0"
        return f"{how} ({mix.reason})"
    return "none of the accepted synthetic rows were kept (see Filters: FD acceptance)"


def verdict(result: RunResult) -> Verdict:
    """The run's verdict (module docstring): what shipped, and how the shipped split did against the best
    baseline in balanced accuracy and few-shot recall; then the headroom."""
    room = headroom_text(result)
    if not result.mix.shipped:
        text, outcomes = _comparison_text("The shipped split (real rows, duplicated to balance)", result)
        return Verdict("none", f"No synthetic rows shipped: {no_synthetic_reason(result)}. {text}.", outcomes, room)
    text, outcomes = _comparison_text("The GAN's mix", result)
    return Verdict(_tone(outcomes), f"{text}; {_shipped_text(result)}.", outcomes, room)


def headroom_text(result: RunResult) -> str:
    """Whether more real images of the rare classes could help, and the synthetic rows' worth in real ones
    (gan_aug.headroom), or why neither was measured."""
    room = result.headroom
    if room is None:
        why = ("the mix is fixed (mix.policy fixed), so no validation runs were made to build it beside"
               if result.mix.policy == "fixed" else "mix.headroom is off, or no class is below its target")
        return f"Headroom not measured: {why}."
    worth = room.worth.says if room.worth else "no grid point had synthetic rows to value"
    return f"{room.says} {worth[0].upper()}{worth[1:]}."


def verdict_text(result: RunResult) -> str:
    """The verdict's sentences, for text outputs (the CLI, the markdown summary)."""
    found = verdict(result)
    return f"{found.text} {found.headroom}"
