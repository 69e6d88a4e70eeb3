"""The real `augment` flow, end to end on the embedded default, through the CLI and read back."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from gan_aug.cli import app
from gan_aug.config import parse_config
from gan_aug.data.builtin import digits
from gan_aug.io import read_json
from gan_aug.shards import decode_png

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# The demo's protocol with shorter training: the stages and the data are the real ones.
QUICK = {"name": "e2e", "gan": {"steps": 150, "checkpoint_every": 100}, "filter": {"feature_steps": 100},
         "evaluate": {"steps": 100}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prefect_harness):
    out = tmp_path_factory.mktemp("run")
    config_path = out.parent / "quick.yaml"
    config_path.write_text(yaml.safe_dump(QUICK))
    result = CliRunner().invoke(app, ["run", str(config_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "augmented vs real" in result.output
    return out


def _shards(run_dir) -> pd.DataFrame:
    files = sorted((run_dir / "shards").glob("train-*.parquet"))
    assert files and all("-of-" in f.name for f in files)
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def test_shards_are_balanced_and_flag_synthetic_rows(run_dir):
    frame = _shards(run_dir)
    counts = frame.groupby("label").size()
    assert len(counts) == 10 and counts.nunique() == 1, counts.to_dict()
    synthetic, real = frame[frame.is_synthetic], frame[~frame.is_synthetic]
    assert len(synthetic) > 0 and synthetic.d_score.notna().all() and synthetic.seed.notna().all()
    assert (synthetic.generator_sha256.str.len() == 64).all()
    assert real.d_score.isna().all() and real.generator_sha256.isna().all()
    assert set(frame.label_name) == {str(i) for i in range(10)}
    assert (frame.label_name == frame.label.astype(str)).all()


def test_real_rows_are_the_source_images_unchanged(run_dir):
    frame = _shards(run_dir)
    source = digits()
    real = frame[~frame.is_synthetic]
    for _, row in real.iterrows():
        pixels = decode_png(row["image"]["bytes"], channels=1)
        np.testing.assert_array_equal(pixels, source.images[int(row["source_index"])])
        assert row["label"] == source.labels[int(row["source_index"])]


def test_manifest_matches_the_files(run_dir):
    from gan_aug.io import sha256_file

    manifest = read_json(run_dir / "manifest.json")
    frame = _shards(run_dir)
    assert manifest["totals"]["rows"] == len(frame)
    for entry in manifest["shards"]:
        assert sha256_file(run_dir / entry["file"]) == entry["sha256"]
    assert sum(1 for _ in (run_dir / "images").rglob("*.png")) == len(frame)


def test_metrics_json_is_complete(run_dir):
    metrics = read_json(run_dir / "metrics.json")
    assert set(metrics) >= {"run", "dataset", "classes", "downstream", "shards", "training"}
    classes = metrics["classes"]
    assert [c["name"] for c in classes] == [str(i) for i in range(10)]
    for entry in classes:
        assert entry["final"] == entry["real"] + entry["used"] == entry["target"]
        if entry["needed"]:
            assert entry["generated"] >= entry["accepted"] >= entry["used"] == entry["needed"]
            assert entry["fd"] is not None and entry["fd"] >= 0
    methods = metrics["downstream"]["methods"]
    assert set(methods) == {"real", "oversampled", "augmented"}
    for scores in methods.values():
        assert 0 <= scores["balanced_accuracy"] <= 1 and len(scores["per_class_recall"]) == 10
    gain = metrics["downstream"]["gain"]["augmented_vs_real"]["balanced_accuracy"]
    assert gain == pytest.approx(methods["augmented"]["balanced_accuracy"] - methods["real"]["balanced_accuracy"])
    assert metrics["dataset"]["splits"]["test"] >= 400  # the test split stays whole and real


def test_run_folder_holds_config_checkpoint_and_report(run_dir):
    saved = parse_config(yaml.safe_load((run_dir / "config.yaml").read_text()))
    assert saved.gan.steps == 150 and saved.name == "e2e"
    assert (run_dir / "checkpoints" / "gan.pt").is_file()
    html = (run_dir / "report.html").read_text()
    assert "augmented" in html and "data:image/png;base64," in html


def test_prefect_artifacts_hold_the_summary(run_dir):
    from prefect.artifacts import Artifact

    summary = Artifact.get("gan-aug-summary")
    assert summary is not None and "augmented" in summary.data
    assert Artifact.get("gan-aug-classes") is not None


def test_rerun_reuses_the_checkpoint_and_reproduces_the_shards(run_dir):
    from flows.augment import run_augment

    before = read_json(run_dir / "manifest.json")
    run_augment(parse_config(QUICK), run_dir)
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["training"]["resumed_from"] == 150  # reused, not retrained
    after = read_json(run_dir / "manifest.json")
    assert [s["sha256"] for s in after["shards"]] == [s["sha256"] for s in before["shards"]]


def test_a_different_config_cannot_overwrite_a_run(run_dir):
    changed = {**QUICK, "gan": {"steps": 151}}
    config_path = run_dir.parent / "changed.yaml"
    config_path.write_text(yaml.safe_dump(changed))
    result = CliRunner().invoke(app, ["run", str(config_path), "--out", str(run_dir)])
    assert result.exit_code == 1
    assert "gan.steps" in result.output
