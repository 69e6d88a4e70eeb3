"""The per-sample filters a run may name, each registered by its own module.

A filter is one module: it builds its calibrated ``SampleFilter`` from a ``FilterContext`` and
registers itself with what the rest of the code needs to know about it, so config validation, the
shard's score columns, the funnel and the report's labels follow from here and no list of filter
names is written anywhere else.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

import numpy as np

if TYPE_CHECKING:  # the context's types; importing them here would load torch for config validation
    from gan_aug.config import FilterConfig
    from gan_aug.data.imageset import ImageSet
    from gan_aug.filters.base import SampleFilter
    from gan_aug.generators.base import ConditionalGenerator
    from gan_aug.metrics.extractors import DomainExtractor

# The filters that ship with gan-aug, in the order their score columns appear in a shard.
BUILTIN_MODULES = ("gan_aug.filters.discriminator", "gan_aug.filters.label", "gan_aug.filters.memorisation")


@dataclass(frozen=True)
class FilterContext:
    """What a filter may calibrate on: the settings, the class, its generator and the real images."""

    config: FilterConfig
    label: int  # the data-set class being generated
    generator: ConditionalGenerator
    val: ImageSet  # held-out real images (never trained on)
    train: ImageSet  # every real training row a sample must not copy
    domain: DomainExtractor
    # Every training row's domain features, in ``train``'s order; None: computed by a filter that needs them.
    train_features: Callable[[], np.ndarray] | None = None


@dataclass(frozen=True)
class FilterSpec:
    """One filter as the rest of the code sees it."""

    name: str  # in filter.filters, the funnel ('passed_<name>') and metrics.json's per-class 'filters'
    score: str  # its per-sample score: the shard column and the SyntheticSet/Candidates key
    short: str  # a narrow table header
    threshold_name: str  # the report's name for its threshold
    text: str  # the report's one-line explanation
    settings: tuple[str, ...]  # the FilterConfig fields it reads (metrics.json's 'filters' lists them)
    needs: tuple[str, ...]  # per-sample scores the generator must give (the discriminator filter: d_score)
    build: Callable[[FilterContext], SampleFilter]


_FILTERS: dict[str, FilterSpec] = {}
_builtins_loaded = False


def register_filter(name: str, *, score: str, short: str, threshold_name: str, text: str,
                    settings: tuple[str, ...] = (), needs: tuple[str, ...] = ()
                    ) -> Callable[[Callable[[FilterContext], SampleFilter]], Callable[[FilterContext], SampleFilter]]:
    """Decorate a filter's build function (FilterContext → calibrated SampleFilter) to make ``name`` a
    filter a config may name. A name or score taken by another filter is an error: a score column
    must mean one thing."""
    def decorate(build: Callable[[FilterContext], SampleFilter]) -> Callable[[FilterContext], SampleFilter]:
        for spec in _FILTERS.values():
            if spec.name != name and spec.score == score:
                raise ValueError(f"filter {name!r}: score {score!r} is already filter {spec.name!r}'s")
        if name in _FILTERS and _FILTERS[name].build.__qualname__ != build.__qualname__:
            raise ValueError(f"a filter named {name!r} is already registered")
        _FILTERS[name] = FilterSpec(name, score, short, threshold_name, text, tuple(settings), tuple(needs), build)
        return build

    return decorate


def unregister_filter(name: str) -> None:
    """Remove a plug-in filter (tests register toy ones and must leave the registry as they found it)."""
    _FILTERS.pop(name, None)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def filters() -> dict[str, FilterSpec]:
    """Every registered filter by name: the built-in ones first, in shard-column order (whichever module
    was imported first), then plug-ins in the order they registered."""
    _load_builtins()
    rank = {module: index for index, module in enumerate(BUILTIN_MODULES)}
    ordered = sorted(_FILTERS.values(), key=lambda spec: rank.get(spec.build.__module__, len(rank)))
    return {spec.name: spec for spec in ordered}


def filter_spec(name: str) -> FilterSpec:
    known = filters()
    if name not in known:
        raise ValueError(f"unknown filter {name!r}; registered filters: {', '.join(known)}")
    return known[name]


def score_columns() -> tuple[str, ...]:
    """Every filter's score, in registry order: the shard's score columns."""
    return tuple(spec.score for spec in filters().values())


def check_needs(names: list[str] | tuple[str, ...], generator: str, scores: tuple[str, ...]) -> None:
    """Refuse, before anything is sampled, a filter whose needed score the generator does not give."""
    for name in names:
        missing = [score for score in filter_spec(name).needs if score not in scores]
        if missing:
            raise ValueError(
                f"filter {name!r} needs the per-sample score {', '.join(map(repr, missing))}, which generator "
                f"{generator!r} does not give (it gives: {', '.join(scores) or 'no scores'}); remove {name!r} from "
                "filter.filters or use a generator that scores its samples")


class RegistryView(Mapping[str, str]):
    """A read-only name → attribute mapping over the registry, current when read (plug-ins included)."""

    def __init__(self, attribute: str):
        self.attribute = attribute

    def __getitem__(self, name: str) -> str:
        return getattr(filters()[name], self.attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(filters())

    def __len__(self) -> int:
        return len(filters())
