"""A generator chosen in the config runs the whole pipeline: the trivial ``noisy-copies`` plug-in
(tests/generator_helpers.py: one module that registers itself) through a real `augment` flow run,
whose shards are read back, and through ``GANOverSampler.fit_resample``. It gives no critic score, so
the discriminator filter is refused by name when the config is validated, before any work."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gan_aug import GANOverSampler
from gan_aug.config import ConfigError, GANConfig, parse_config
from gan_aug.hashing import file_sha256
from gan_aug.io import read_json
from generator_helpers import NoisyCopies

# The copies pass the label and memorisation filters; the mix ships up to 2 synthetic rows per real image.
PLUGIN = {"name": "plugin", "data": {"source": "digits", "long_tail": {}},
          "gan": {"generator": "noisy-copies", "eval_every": 0},
          "filter": {"feature_steps": 100, "filters": ["label", "memorisation"], "label_threshold": 0.0,
                     "bootstrap_rounds": 5},
          "mix": {"policy": "fixed", "dose": 2.0, "min_agreement": 0.0},
          "evaluate": {"steps": 30, "batch_size": 64, "seeds": 1, "methods": ["plain", "gan"]}}
REFUSED = (r"filter 'discriminator' needs the per-sample score 'd_score', which generator 'noisy-copies' does "
           r"not give \(it gives: no scores\)")


def test_the_generator_is_a_validated_setting():
    assert GANConfig().generator == "gan" and GANConfig(generator="noisy-copies").generator == "noisy-copies"
    with pytest.raises(ConfigError, match=r"gan.generator: .*unknown generator 'noisy'; registered generators: "
                                          r"gan, noisy-copies"):
        parse_config({"gan": {"generator": "noisy"}})
    with pytest.raises(ConfigError, match=REFUSED):  # the default filters include the discriminator's
        parse_config({"gan": {"generator": "noisy-copies"}})
    parse_config({"gan": {"generator": "gan"}})  # the GAN gives d_score


@pytest.mark.slow
def test_a_plugin_generator_runs_the_flow_end_to_end(tmp_path, prefect_harness):
    from flows.augment import run_augment

    run_augment(parse_config(PLUGIN), tmp_path)
    checkpoint = tmp_path / "checkpoints" / "noisy-copies.pt"
    assert checkpoint.is_file() and not (tmp_path / "checkpoints" / "gan.pt").exists()
    sha = file_sha256(checkpoint)
    files = sorted((tmp_path / "shards").glob("train-*.parquet"))
    table = pq.read_table(files[0]) if len(files) == 1 else None
    assert table is not None
    frame = table.to_pandas()
    counts = frame.groupby("label").size()
    assert len(counts) == 10 and counts.nunique() == 1, counts.to_dict()
    synthetic = frame[frame.is_synthetic]
    assert len(synthetic) > 0 and set(synthetic.generator_sha256) == {sha}
    # No critic: the d_score column is there (one schema for every generator) and null on every row.
    assert frame.d_score.isna().all() and synthetic.label_prob.notna().all() and (synthetic.nn_distance > 0).all()
    # A seed regenerates its row from the saved generator.
    model = NoisyCopies.load(checkpoint)
    row = synthetic.iloc[0]
    from gan_aug.shards import decode_png

    np.testing.assert_array_equal(decode_png(row["image"]["bytes"], channels=1),
                                  model.sample(int(row["label"]), np.array([int(row["seed"])])).images[0])
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["run"]["generator_sha256"] == sha
    assert {c["label"] for c in metrics["classes"] if c.get("funnel")} == {int(k) for k in
                                                                            read_json(tmp_path / "manifest.json")
                                                                            ["generators"]}
    assert all(list(c["funnel"]) == ["generated", "label", "memorisation"]
               for c in metrics["classes"] if c.get("funnel"))
    assert metrics["training"]["generator"] == "noisy-copies"
    report = html.unescape(Path(tmp_path / "report.html").read_text())
    assert "Shared generator 'noisy-copies' fitted in" in report and "Shared GAN" not in report


@pytest.mark.slow
def test_a_plugin_generator_runs_in_the_oversampler(digits_set, tmp_path):
    counts = [40] * 8 + [12, 8]
    rows = np.concatenate([np.flatnonzero(digits_set.labels == k)[:n] for k, n in enumerate(counts)])
    X, y = digits_set.images[rows, 0], digits_set.labels[rows]
    filters = {"filters": ["label", "memorisation"], "label_threshold": 0.0, "feature_steps": 60,
               "bootstrap_rounds": 5, "fd_max_ratio": 1e6}
    with pytest.raises(ValueError, match=REFUSED):  # before any work
        GANOverSampler(gan={"generator": "noisy-copies"}).fit_resample(X, y)
    sampler = GANOverSampler(gan={"generator": "noisy-copies"}, filter=filters,
                             mix={"policy": "fixed", "dose": 100.0, "min_agreement": 0.0}, work_dir=tmp_path)
    X_res, y_res = sampler.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [40] * 10
    np.testing.assert_array_equal(X_res[: len(X)], X)
    assert sampler.generation_[9]["used"] == 32 and sampler.generation_[8]["used"] == 28
    assert list(sampler.generation_[9]["funnel"]) == ["generated", "label", "memorisation"]
    assert [p.name.split("-")[0] for p in tmp_path.glob("*.pt") if not p.name.startswith("extractor")] == ["noisy"]
    assert sampler.gan_["sha256"] == file_sha256(next(tmp_path.glob("noisy-copies-*.pt")))
