"""Extension points: a filter and a generator, each one module (here, this test module and
generator_helpers.py) that registers itself; config validation, the funnel, the report's labels and
the shard columns follow."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from gan_aug.config import EvaluateConfig, FilterConfig, GenerateConfig, MixConfig
from gan_aug.evaluate.mix_choice import choose_mix
from gan_aug.filters import SampleFilter
from gan_aug.filters.registry import FilterContext, filters, register_filter, score_columns, unregister_filter
from gan_aug.generators import generator_class
from gan_aug.metrics.domain_classifier import train_domain_extractor
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.run_result import ClassResult
from gan_aug.shards import write_shards
from gan_aug.stages import accept, generate_with, sample_with
from gan_aug.summary import filter_summary
from generator_helpers import NoisyCopies
from report_fixtures import make_metrics, typed


class BrightnessFilter(SampleFilter):
    """A toy plug-in: a sample must not be nearly black."""

    name = "brightness"

    def __init__(self, threshold: float):
        self.threshold = threshold

    def score(self, batch) -> np.ndarray:
        return batch.images.reshape(len(batch), -1).mean(axis=1)


@pytest.fixture
def brightness():
    """Registered for one test, then removed: the registry is process-wide."""
    @register_filter("brightness", score="brightness", short="bright", threshold_name="brightness floor",
                     text="a sample's mean grey level must reach a floor")
    def build(context: FilterContext) -> BrightnessFilter:
        return BrightnessFilter(1.0)

    yield filters()["brightness"]
    unregister_filter("brightness")
    assert "brightness" not in filters() and "brightness" not in score_columns()


@pytest.fixture(scope="module")
def halves(digits_set):
    rows = np.random.default_rng(0).permutation(len(digits_set))
    return digits_set.subset(np.sort(rows[:1200])), digits_set.subset(np.sort(rows[1200:]))


@pytest.fixture(scope="module")
def domain(halves):
    return DomainExtractor(train_domain_extractor(halves[0], steps=30))


def test_a_registered_filter_is_accepted_by_the_config_and_unknown_ones_are_named(brightness):
    assert FilterConfig(filters=["label", "brightness"]).filters == ["label", "brightness"]
    with pytest.raises(ValueError, match=r"unknown filter 'brightnes'; registered filters: discriminator, label, "
                                         r"memorisation, brightness"):
        FilterConfig(filters=["brightnes"])
    assert score_columns() == ("d_score", "label_prob", "nn_distance", "brightness")


def test_builtin_filters_keep_todays_names():
    """Output names are a contract: the registry reproduces them, it does not rename them."""
    specs = filters()
    assert [(s.name, s.score, s.short) for s in specs.values()] == [
        ("discriminator", "d_score", "D"), ("label", "label_prob", "label"), ("memorisation", "nn_distance", "memo")]
    assert specs["discriminator"].needs == ("d_score",) and not specs["label"].needs
    assert filter_summary(FilterConfig(), {}).settings.keys() >= {"d_quantile", "label_threshold",
                                                                  "memorisation_quantile"}
    assert generator_class("gan").scores == ("d_score",)


def test_a_plugin_filter_runs_in_the_chain_and_shows_in_the_funnel_the_report_and_the_shards(
        brightness, halves, domain, tmp_path):
    from gan_aug import cli
    from gan_aug.mix import TrainingMix
    from gan_aug.report import FILTER_TEXT, THRESHOLD_NAMES, filter_table_rows

    train, val = halves
    config = FilterConfig(filters=["label", "brightness"], label_threshold=0.0)
    synthetic, stats = generate_with(NoisyCopies(train), 9, 12, filters=config, generate=GenerateConfig(), val=val,
                                     train=train, domain=domain, train_features=lambda: domain.features(train.images))
    assert list(stats.funnel) == ["generated", "label", "brightness"] and len(synthetic) == 12
    assert stats.filters["brightness"] == {"threshold": 1.0}
    assert (synthetic.scores["brightness"] >= 1.0).all() and np.isnan(synthetic.scores["d_score"]).all()
    entry = ClassResult(label=9, name="9", real=100, target=112, needed=12, asked=stats.needed,
                        generated=stats.generated, accepted=stats.accepted, used=12, duplicates=0, final=112, dose=1.0,
                        label_agreement=None, filter_val_recall=None, cas=None, real_recall=None, funnel=stats.funnel,
                        filters=stats.filters, d_threshold=stats.d_threshold)
    metrics = typed(make_metrics()).model_copy(update={"filters": filter_summary(config, {}), "classes": [entry]})
    row = filter_table_rows(metrics)[0]
    assert row["passed_brightness"] == stats.funnel["brightness"] >= 12 and row["brightness_threshold"] == 1.0
    assert THRESHOLD_NAMES["brightness"] == "brightness floor" and "grey level" in FILTER_TEXT["brightness"]
    headers = [str(column.header) for column in cli.filters_table(metrics).columns]
    assert "bright" in headers and "label" in headers
    write_shards(tmp_path, TrainingMix(train, synthetic, np.zeros(0, np.int64)))
    (shard,) = sorted((tmp_path / "shards").glob("train-*.parquet"))
    table = pq.read_table(shard)
    assert table.column_names[7:12] == ["d_score", "label_prob", "nn_distance", "brightness", "generator_sha256"]
    assert table.column("brightness").null_count == len(train)  # real rows have no filter scores


def test_a_second_generator_runs_generation_filters_acceptance_and_the_mix(halves, domain, tmp_path):
    """No critic, so no d_score: the discriminator filter is refused before anything is sampled, by
    name; the label and memorisation filters run and the pipeline carries on."""
    train, val = halves
    model = generator_class("noisy-copies").fit(train, val, tmp_path / "copies.npz")
    model = NoisyCopies.load(model.save(tmp_path / "again.npz"))
    assert model.sha256 == NoisyCopies.load(tmp_path / "copies.npz").sha256  # the same bytes
    with pytest.raises(ValueError, match=r"filter 'discriminator' needs the per-sample score 'd_score', which "
                                         r"generator 'noisy-copies' does not give"):
        generate_with(model, 8, 5, filters=FilterConfig(), generate=GenerateConfig(), val=val, train=train,
                      domain=domain, train_features=lambda: pytest.fail("nothing may be computed"))
    filters_config = FilterConfig(filters=["label", "memorisation"], label_threshold=0.0, bootstrap_rounds=5)
    features = domain.features(train.images)
    parts = []
    for label in (8, 9):
        rows, stats = generate_with(model, label, 20, filters=filters_config,
                                    generate=GenerateConfig(budget_factor=10.0), val=val, train=train, domain=domain,
                                    train_features=lambda: features)
        assert len(rows) == 20 and list(stats.funnel) == ["generated", "label", "memorisation"]
        assert np.isnan(rows.scores["d_score"]).all() and not np.isnan(rows.scores["nn_distance"]).any()
        parts.append(rows)
    from gan_aug.synthetic import SyntheticSet

    candidates = SyntheticSet.concat(parts)
    again = sample_with(model, 8, 20, seed=GenerateConfig().seed)  # a seed regenerates its sample
    same = np.isin(again.seeds, parts[0].seeds)
    np.testing.assert_array_equal(again.images[same], parts[0].images[np.isin(parts[0].seeds, again.seeds)])
    acceptance = accept(candidates, train, domain, filters_config, seed=0)
    assert set(acceptance.report.status) == {8, 9}
    targets = np.full(train.num_classes, np.bincount(train.labels).max())
    choice = choose_mix(train, val, acceptance.accepted, targets, [8, 9],
                        MixConfig(doses=[1.0], weights=[1.0], seeds=1, steps=20, bootstrap_rounds=10),
                        EvaluateConfig(steps=20, seeds=1))
    mix = choice.build(train, acceptance.accepted, targets, 0)
    assert len(mix.synthetic) in (0, len(acceptance.accepted))
    write_shards(tmp_path / "run", mix)
    (shard,) = sorted((tmp_path / "run" / "shards").glob("train-*.parquet"))
    table = pq.read_table(shard, columns=["is_synthetic", "d_score", "generator_sha256"])
    synthetic = table.column("is_synthetic").to_numpy()
    assert table.column("d_score").null_count == len(table)  # no critic: null on every row
    assert set(table.column("generator_sha256").to_numpy(zero_copy_only=False)[synthetic]) <= {model.sha256}


def test_the_gan_is_a_conditional_generator_saved_as_its_checkpoint(tiny_set, tmp_path):
    from gan_aug.config import GANConfig
    from gan_aug.generators.gan import GANGenerator

    gan = GANGenerator.fit(tiny_set, tiny_set, tmp_path / "g.pt", config=GANConfig(
        steps=2, eval_every=0, z_dim=8, base_channels=8, batch_size=8, checkpoint_every=5))
    samples = gan.sample(2, np.arange(3))
    assert samples.images.shape == (3, 1, 8, 8) and samples.images.dtype == np.uint8
    assert list(samples.scores) == ["d_score"] and samples.scores["d_score"].shape == (3,)
    again = GANGenerator.load(gan.save(tmp_path / "copy.pt"))
    assert again.sha256 == gan.sha256  # the same checkpoint bytes
    np.testing.assert_array_equal(again.sample(2, np.arange(3)).images, samples.images)
    assert gan.score_real("d_score", tiny_set.images[:2], tiny_set.labels[:2]).shape == (2,)
    with pytest.raises(ValueError, match="cannot score images with 'brightness'"):
        gan.score_real("brightness", tiny_set.images[:2], tiny_set.labels[:2])
    one = GANGenerator(gan.generator, gan.discriminator, gan.sha256, single_class=2)
    assert not one.shared_scale and one.model_labels(np.array([2, 2])).tolist() == [0, 0]
    with pytest.raises(ValueError, match="makes class 2 only"):
        one.sample(1, np.arange(2))
