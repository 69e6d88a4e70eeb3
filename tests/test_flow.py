"""The real `augment` flow, end to end on the embedded default, and the `gan-aug` command that starts it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from PIL import Image

from gan_aug.config import ConfigError, parse_config
from gan_aug.data.builtin import digits
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate.intervals import outcome
from gan_aug.io import read_json
from gan_aug.run_result import SCHEMA_VERSION, RunResult
from gan_aug.shards import decode_png

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# The demo's protocol with shorter training: the stages and the data are the real ones.
# A GAN trained this briefly makes samples the discriminator filter can reject wholesale (it tells
# them from real images); QUICK leaves it out and lets every label through so that every class fills,
# while the filters still run, score every row and count the funnel. The policy tests run all three.
# The mix is fixed at up to 2 synthetic rows per real image whatever their label agreement, so every minority
# class ships synthetic rows and the rarest ones duplicated real rows too (the validation policy has its own test).
QUICK = {"name": "e2e", "data": {"source": "digits", "long_tail": {}}, "gan": {"steps": 150, "checkpoint_every": 100},
         "filter": {"feature_steps": 100, "filters": ["label", "memorisation"], "label_threshold": 0.0},
         "mix": {"policy": "fixed", "dose": 2.0, "min_agreement": 0.0},
         "evaluate": {"steps": 50, "batch_size": 64, "seeds": 2}}
# For tests about other stages: two methods, one seed, a short budget (the evaluation has its own tests).
LEAN_EVAL = {"steps": 30, "batch_size": 64, "seeds": 1, "methods": ["plain", "gan"]}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prefect_harness):
    from flows.augment import run_augment

    out = tmp_path_factory.mktemp("run")
    outputs = run_augment(parse_config(QUICK), out)
    assert Path(outputs["report"]) == out.resolve() / "report.html"
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
    # Every synthetic row carries each filter's score; real rows carry none.
    assert synthetic.label_prob.between(0, 1).all() and (synthetic.nn_distance > 0).all()
    assert real.label_prob.isna().all() and real.nn_distance.isna().all()
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
    from gan_aug.hashing import file_sha256

    manifest = read_json(run_dir / "manifest.json")
    frame = _shards(run_dir)
    assert manifest["splits"]["train"]["rows"] == len(frame)
    for entry in manifest["shards"]:
        assert file_sha256(run_dir / entry["file"]) == entry["sha256"]
    total = sum(split["rows"] for split in manifest["splits"].values())
    assert sum(1 for _ in (run_dir / "images").rglob("*.png")) == total == manifest["image_folder"]["files"]
    provenance = manifest["provenance"]
    assert provenance["config_hash"] == parse_config(QUICK).results_hash()
    assert provenance["seeds"] == {"split": 0, "long_tail": 0, "gan": 0, "generate": 1, "evaluate": 0}
    assert provenance["packages"]["torch"] == torch.__version__.split("+")[0]
    assert manifest["generator_sha256"] == read_json(run_dir / "metrics.json")["run"]["generator_sha256"]


def test_validation_and_test_shards_are_the_real_held_out_splits(run_dir):
    manifest = read_json(run_dir / "manifest.json")
    sizes = read_json(run_dir / "metrics.json")["dataset"]["splits"]
    for split, held_out in (("validation", "val"), ("test", "test")):
        frame = pd.concat([pq.read_table(run_dir / e["file"]).to_pandas()
                           for e in manifest["shards"] if e["split"] == split])
        assert len(frame) == sizes[held_out] == manifest["splits"][split]["rows"]
        assert not frame.is_synthetic.any() and frame.source_index.notna().all()
        held = ImageSet.load(run_dir / "data" / f"{held_out}.npz")
        assert sorted(frame.source_index) == sorted(held.source_index.tolist())


def test_the_demo_shards_load_in_the_tools_people_train_with(run_dir):
    """Hugging Face datasets (Image and ClassLabel features), pandas, DuckDB and torchvision's ImageFolder."""
    datasets = pytest.importorskip("datasets")
    duckdb = pytest.importorskip("duckdb")
    from torchvision.datasets import ImageFolder

    manifest = read_json(run_dir / "manifest.json")
    splits = manifest["splits"]
    files = {split: str(run_dir / "shards" / f"{split}-*.parquet") for split in splits}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(run_dir.parent / "hf-cache"))
    train = loaded["train"]
    assert {name: len(loaded[name]) for name in splits} == {name: s["rows"] for name, s in splits.items()}
    assert isinstance(train.features["image"], datasets.Image)
    assert train.features["label"].names == manifest["class_names"]
    first = train[0]
    assert first["image"].size == (8, 8) and first["label"] == 0
    assert sum(train["is_synthetic"]) == splits["train"]["synthetic_rows"]

    frame = pd.read_parquet(run_dir / "shards")  # the whole folder: every split
    assert len(frame) == sum(s["rows"] for s in splits.values())

    counts = dict(duckdb.sql(
        f"SELECT label_name, count(*) FROM read_parquet('{files['train']}') GROUP BY label_name").fetchall())
    assert counts == splits["train"]["class_counts"]

    for split, totals in splits.items():
        folder = ImageFolder(str(run_dir / "images" / split))
        assert folder.classes == manifest["class_names"] and len(folder) == totals["rows"]
        found = np.bincount([label for _, label in folder.samples], minlength=len(folder.classes))
        assert dict(zip(folder.classes, found.tolist())) == totals["class_counts"]
    image, label = folder[0]
    assert image.size == (8, 8)


def test_verify_passes_on_the_run_and_fails_on_a_tampered_shard(run_dir, tmp_path):
    from typer.testing import CliRunner

    from gan_aug.cli import app

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    runner = CliRunner()
    good = runner.invoke(app, ["verify", str(copy)])
    assert good.exit_code == 0, good.output
    assert "OK" in good.output
    shard = copy / read_json(copy / "manifest.json")["shards"][0]["file"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = runner.invoke(app, ["verify", str(copy)])
    assert bad.exit_code == 1 and shard.name in bad.output and "sha256" in bad.output


def test_metrics_json_is_complete(run_dir):
    metrics = read_json(run_dir / "metrics.json")
    assert set(metrics) >= {"run", "dataset", "classes", "downstream", "shards", "training", "filters"}
    assert metrics["filters"]["order"] == ["label", "memorisation"]
    assert metrics["filters"]["fd_policy"] == "warn" and metrics["filters"]["dropped"] == []
    classes = metrics["classes"]
    assert [c["name"] for c in classes] == [str(i) for i in range(10)]
    for entry in classes:
        assert entry["final"] == entry["real"] + entry["used"] + entry["duplicates"] == entry["target"]
        if entry["needed"]:
            # At most 2 synthetic rows per real image (the dose); duplicated real rows make up the rest.
            assert entry["generated"] >= entry["accepted"] >= entry["used"] == entry["asked"]
            assert entry["asked"] == min(entry["needed"], 2 * entry["real"]) and entry["dose"] == 2.0
            assert entry["duplicates"] == entry["needed"] - entry["used"]
            assert 0 <= entry["label_agreement"] <= 1 and 0 <= entry["cas"] <= 1 and 0 <= entry["real_recall"] <= 1
            funnel = entry["funnel"]
            assert list(funnel) == ["generated", "label", "memorisation"]
            assert funnel["generated"] == entry["generated"] and funnel["memorisation"] == entry["accepted"]
            assert funnel["generated"] >= funnel["label"] >= funnel["memorisation"]
            assert entry["filters"]["memorisation"]["threshold"] > 0
            assert entry["acceptance"] in {"ok", "flagged", "unjudged"}
            assert (entry["acceptance"] == "unjudged") == (entry["real"] < 10)
            assert entry["kid_ci_low"] <= entry["kid_ci_high"]
            assert entry["fd"] is not None and entry["fd"] >= 0
            assert entry["kid"] is not None and 0 <= entry["precision"] <= 1
            if entry["real"] >= 4:  # two halves of at least two images each
                assert entry["fd_floor"] is not None and entry["fd_ci_low"] <= entry["fd_ci_high"]
        else:
            assert entry["fd"] is None and entry["kid"] is None
    assert any(entry["duplicates"] for entry in classes) and any(entry["used"] for entry in classes)
    assert metrics["mix"]["policy"] == "fixed" and metrics["mix"]["doses"]["9"] == 2.0 and metrics["mix"]["reason"]
    assert 0 < metrics["usefulness"]["cas_overall"] <= 1 and metrics["usefulness"]["cas_samples"] == 105
    methods = metrics["downstream"]["methods"]
    assert list(methods) == ["plain", "class_weighted", "oversampled", "smote", "standard_aug", "gan"]
    for scores in methods.values():
        assert 0 <= scores["balanced_accuracy"] <= 1 and len(scores["per_class_recall"]) == 10
        assert len(scores["per_seed"]["balanced_accuracy"]) == 2 and scores["ci"]["balanced_accuracy"] is not None
    # The GAN's method trains on the shards as written: real, synthetic and duplicated rows.
    assert methods["gan"]["train_rows"] == metrics["shards"]["rows"] == 10 * 105
    downstream = metrics["downstream"]
    assert downstream["seeds"] == [0, 1] and downstream["best_baseline"] != "gan"
    assert downstream["few_shot_classes"] == [7, 8, 9] and "few_shot_recall" in downstream["comparison"]["gan"]
    comparison = downstream["comparison"]["gan"]
    assert comparison["baseline"] == downstream["best_baseline"]
    assert comparison["mean_diff"] == pytest.approx(
        methods["gan"]["balanced_accuracy"] - methods[downstream["best_baseline"]]["balanced_accuracy"])
    result = RunResult.read(run_dir / "metrics.json")  # what the report read: the same numbers, typed
    assert result.schema_version == SCHEMA_VERSION and result.mix.shipped
    assert result.downstream.comparison["gan"].outcome == outcome(comparison["ci"])  # decided once, stored
    assert [c.used for c in result.classes] == [c["used"] for c in classes]
    assert metrics["dataset"]["splits"]["test"] >= 400  # the test split stays whole and real
    training = metrics["training"]
    assert training["strategy"] == "shared" and set(training["runs"]) == {"shared"}
    shared = training["runs"]["shared"]
    minority = [c["label"] for c in classes if c["needed"]]
    # The FD check at the last step chose the weights each minority class is sampled from.
    assert shared["quality_history"][-1]["step"] == 150
    assert set(shared["quality_history"][-1]["fd"]) == {str(label) for label in minority}
    assert {int(k) for k in shared["best"]} == set(minority)
    for entry in classes:
        if entry["needed"]:
            assert entry["generator_step"] == shared["best"][str(entry["label"])]["step"]
            assert entry["generator_sha256"] == shared["sha256"] == metrics["run"]["generator_sha256"]
    assert all(record["images_per_s"] > 0 for record in shared["history"])


def test_run_folder_holds_config_checkpoint_and_report(run_dir):
    saved = parse_config(yaml.safe_load((run_dir / "config.yaml").read_text()))
    assert saved.gan.steps == 150 and saved.name == "e2e"
    assert (run_dir / "checkpoints" / "gan.pt").is_file()
    html = (run_dir / "report.html").read_text()
    assert "few-shot" in html and "(best baseline)" in html and "data:image/png;base64," in html
    assert 'id="usefulness"' in html and 'id="mix"' in html
    assert 'id="quality"' in html and "FD floor" in html and 'id="filters"' in html
    assert "rejected by" in html  # examples of what the filters turned away


def test_prefect_artifacts_hold_the_summary(run_dir):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import ArtifactSort

    keys = ["gan-aug-summary", "gan-aug-downstream", "gan-aug-comparison", "gan-aug-classes", "gan-aug-quality",
            "gan-aug-filters", "gan-aug-usefulness", "gan-aug-mix", "gan-aug-shards"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)),
                                      # prefect 3.8.8's sync client sends None for omitted
                                      # arguments, which its server rejects: pass them all.
                                      flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(),
                                      sort=ArtifactSort.KEY_ASC, limit=200, offset=0)
    # Other tests' runs leave artifacts under the same keys: keep this run's, found by its folder.
    this_run = {a.flow_run_id for a in found
                if a.key == "gan-aug-summary" and str(run_dir.resolve()) in (a.description or "")}
    assert len(this_run) == 1, [a.description for a in found if a.key == "gan-aug-summary"]
    by_key = {artifact.key: artifact for artifact in found if artifact.flow_run_id in this_run}
    assert set(by_key) == set(keys)
    assert "gan vs " in by_key["gan-aug-summary"].data and by_key["gan-aug-classes"].type == "table"
    assert "balanced accuracy" in by_key["gan-aug-comparison"].data
    manifest = read_json(run_dir / "manifest.json")
    assert "validation and test are real only" in by_key["gan-aug-summary"].data
    assert all(entry["sha256"] in by_key["gan-aug-shards"].data for entry in manifest["shards"])


def test_rerun_reuses_the_checkpoint_and_reproduces_the_shards(run_dir):
    from flows.augment import run_augment

    before = read_json(run_dir / "manifest.json")
    written = {entry["file"]: (run_dir / entry["file"]).stat().st_mtime_ns for entry in before["shards"]}
    run_augment(parse_config(QUICK), run_dir)
    assert {f: (run_dir / f).stat().st_mtime_ns for f in written} == written  # not rewritten
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["training"]["runs"]["shared"]["resumed_from"] == 150  # reused, not retrained
    after = read_json(run_dir / "manifest.json")
    assert after == before  # same content key: the complete shards were reused as they were
    assert any((run_dir / ".cache" / "results").iterdir())  # cached results stay with the run, not in PREFECT_HOME


def test_a_cached_stage_whose_files_were_deleted_runs_again(run_dir, caplog):
    from flows.augment import run_augment

    before = read_json(run_dir / "manifest.json")
    generated = sorted(p.relative_to(run_dir) for p in (run_dir / "generated").rglob("*") if p.is_file())
    assert generated and (run_dir / ".cache").is_dir()
    shutil.rmtree(run_dir / "generated")  # the outputs go, the cache records stay
    run_augment(parse_config(QUICK), run_dir)
    assert sorted(p.relative_to(run_dir) for p in (run_dir / "generated").rglob("*") if p.is_file()) == generated
    assert "of its outputs are gone" in caplog.text or "outputs of" in caplog.text
    assert read_json(run_dir / "manifest.json") == before  # recomputed from the same checkpoint: the same rows


def test_a_rerun_under_another_prefect_home_reuses_the_cached_stages(run_dir, tmp_path):
    """The cached results live in the run folder, not under PREFECT_HOME: a rerun from another home (a
    deployment's worker after the CLI, say) finds them instead of failing on a path outside its own."""
    from prefect.settings import PREFECT_HOME, temporary_settings

    from flows.augment import run_augment

    generated = {p.name: p.stat().st_mtime_ns for p in (run_dir / "generated").glob("class-*.npz")}
    before = read_json(run_dir / "metrics.json")["downstream"]
    with temporary_settings(updates={PREFECT_HOME: tmp_path / "other-home"}):
        run_augment(parse_config(QUICK), run_dir)
    assert {p.name: p.stat().st_mtime_ns for p in (run_dir / "generated").glob("class-*.npz")} == generated
    assert read_json(run_dir / "metrics.json")["downstream"] == before  # no classifier trained again


def test_a_different_config_cannot_overwrite_a_run(run_dir):
    from flows.augment import run_augment

    before = (run_dir / "manifest.json").read_bytes()
    with pytest.raises(ConfigError, match=r"gan\.steps"):
        run_augment(parse_config({**QUICK, "gan": {"steps": 151}}), run_dir)
    assert (run_dir / "manifest.json").read_bytes() == before


def test_per_class_strategy_trains_one_gan_per_minority_class(tmp_path):
    from flows.augment import run_augment

    config = parse_config({**QUICK, "gan": {"steps": 30, "strategy": "per_class", "eval_every": 15},
                           "evaluate": LEAN_EVAL})
    run_augment(config, tmp_path)
    metrics = read_json(tmp_path / "metrics.json")
    minority = [c["label"] for c in metrics["classes"] if c["needed"]]
    runs = metrics["training"]["runs"]
    assert set(runs) == {str(label) for label in minority} and metrics["run"]["generator_sha256"] is None
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("gan-class-*.pt"))
    assert checkpoints == [f"gan-class-{label:04d}.pt" for label in minority]
    assert not (tmp_path / "checkpoints" / "gan.pt").exists()
    # Each class's synthetic rows name its own GAN's checkpoint, in the shards and the manifest.
    frame = _shards(tmp_path)
    synthetic = frame[frame.is_synthetic]
    for label in minority:
        assert set(synthetic[synthetic.label == label].generator_sha256) == {runs[str(label)]["sha256"]}
        assert [q["step"] for q in runs[str(label)]["quality_history"]] == [15, 30]
    manifest = read_json(tmp_path / "manifest.json")
    assert manifest["generator_sha256"] is None
    assert manifest["generators"] == {str(label): runs[str(label)]["sha256"] for label in minority}
    assert len(set(manifest["generators"].values())) == len(minority)


def test_default_filters_and_the_validation_policy_on_a_weak_gan(tmp_path):
    """All three filters and the mix policy at their defaults on a GAN of 30 steps: the filters let few
    samples through, metrics and report say how far each class got through the funnel, the mix is chosen
    on validation from the grid, and duplicated real rows balance every class to the row."""
    from flows.augment import run_augment

    config = parse_config({**QUICK, "gan": {"steps": 30}, "generate": {"budget_factor": 3},
                           "filter": {"feature_steps": 100}, "mix": {"seeds": 1, "steps": 60},
                           "evaluate": LEAN_EVAL})
    run_augment(config, tmp_path)
    metrics = read_json(tmp_path / "metrics.json")
    for entry in (c for c in metrics["classes"] if c["needed"]):
        funnel = entry["funnel"]
        assert list(funnel) == ["generated", "discriminator", "label", "memorisation"]
        assert funnel["generated"] == entry["generated"] == 3 * entry["asked"]  # the budget was spent
        assert entry["asked"] == min(entry["needed"], 2 * entry["real"])  # the grid's largest dose is 2
        assert funnel["generated"] >= funnel["discriminator"] >= funnel["label"] >= funnel["memorisation"]
        assert entry["filters"]["discriminator"]["calibration"] in {"val", "pooled"}
        assert entry["filters"]["label"]["threshold"] == 0.9
        assert entry["used"] <= min(entry["accepted"], entry["asked"])
        assert entry["final"] == entry["real"] + entry["used"] + entry["duplicates"] == entry["target"]
    short = [c for c in metrics["classes"] if c["needed"] and c["accepted"] < c["asked"]]
    assert short  # a 30-step GAN's samples mostly fail the filters
    mix = metrics["mix"]  # which point the rule picks: tests/test_mix_policy.py; here, that the run follows it
    assert mix["policy"] == "validation" and [(p["dose"], p["weight"]) for p in mix["curve"]] == [
        (0.0, 1.0), (0.5, 1.0), (0.5, 0.5), (1.0, 1.0), (1.0, 0.5), (2.0, 1.0), (2.0, 0.5)]
    assert f"on validation ({metrics['dataset']['splits']['val']} images)" in mix["reason"]
    chosen = next(p for p in mix["curve"] if (p["dose"], p["weight"]) == (mix["dose"], mix["weight"]))
    assert sum(c["used"] for c in metrics["classes"]) == chosen["synthetic_rows"]  # what shipped is the choice
    assert all(c["dose"] == (mix["dose"] if c["label"] in mix["eligible"] else 0.0) for c in metrics["classes"])
    html = (tmp_path / "report.html").read_text()
    assert html.count('class="asked-short"') == len(short)
    # The real rows' curve, from the same batch of validation runs: minority rows cut to ¼ and ½.
    room = metrics["headroom"]
    minority = [c for c in metrics["classes"] if c["needed"]]
    assert room["fractions"] == [0.25, 0.5, 1.0] and room["real_rows"][-1] == sum(c["real"] for c in minority)
    assert room["real_rows"][0] == sum(max(1, -(-c["real"] // 4)) for c in minority)
    assert [int(k) for k in room["per_class"]] == [c["label"] for c in minority]
    assert 'id="verdict-headroom"' in html and 'id="headroom-curve"' in html


def test_fd_policy_drop_removes_the_flagged_classes_synthetic_rows(tmp_path):
    from flows.augment import run_augment

    # No generator is within 0.01× of its floor: every class with enough real images to judge is dropped.
    config = parse_config({**QUICK, "gan": {"steps": 40}, "filter": {**QUICK["filter"], "fd_policy": "drop",
                                                                      "fd_max_ratio": 0.01},
                           "evaluate": LEAN_EVAL})
    run_augment(config, tmp_path)
    metrics = read_json(tmp_path / "metrics.json")
    judged = [c for c in metrics["classes"] if c["needed"] and c["real"] >= 10]
    unjudged = [c for c in metrics["classes"] if c["needed"] and c["real"] < 10]
    assert judged and unjudged
    assert all(c["acceptance"] == "dropped" and c["used"] == 0 and c["duplicates"] == c["needed"] for c in judged)
    assert all(c["acceptance"] == "unjudged" and c["used"] == c["asked"] > 0 for c in unjudged)
    assert metrics["filters"]["dropped"] == [c["label"] for c in judged]
    frame = _shards(tmp_path)
    assert set(frame[frame.is_synthetic].label) == {c["label"] for c in unjudged}
    assert "FD acceptance dropped" in (tmp_path / "report.html").read_text()


def test_fd_policy_fail_stops_before_anything_is_written(tmp_path):
    from flows.augment import run_augment
    from gan_aug.filters import FDAcceptanceError

    config = parse_config({**QUICK, "gan": {"steps": 20}, "filter": {**QUICK["filter"], "fd_policy": "fail",
                                                                      "fd_max_ratio": 0.01}})
    with pytest.raises(FDAcceptanceError, match=r"fd_max_ratio = 0.01: .*\(label \d\): FD .* Nothing was written"):
        run_augment(config, tmp_path)
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / "shards").exists()
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "report.html").exists()


def test_inception_features_without_local_weights_fail_before_training(tmp_path):
    from flows.augment import run_augment
    from gan_aug.metrics.extractors import InceptionWeightsMissing

    missing = tmp_path / "nowhere" / "pt_inception.pth"
    config = parse_config({**QUICK, "filter": {**QUICK["filter"], "extractor": "inception",
                                               "inception_weights": str(missing)}})
    with pytest.raises(InceptionWeightsMissing, match=r"filter\.inception_weights"):
        run_augment(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder was claimed


def test_cli_run_prints_the_tables_and_paths(tmp_path):
    """`gan-aug run` as a user types it, in its own process with its own embedded Prefect server."""
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({**QUICK, "gan": {"steps": 20},
                                           "evaluate": {"steps": 20, "batch_size": 64, "seeds": 2}}))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)  # not the test harness's server: the CLI starts its own
    cli = Path(sys.executable).parent / "gan-aug"
    done = subprocess.run([str(cli), "run", str(config_path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "GAN against the best baseline" in done.stdout and "few-shot" in done.stdout
    assert "Per class" in done.stdout
    filters = done.stdout[done.stdout.index("Filters: candidates made"):]
    assert all(f" {header} " in filters for header in ("made", "label", "memo", "used", "FD"))
    assert f"report:   {tmp_path / 'out' / 'report.html'}" in done.stdout


def test_flow_runs_on_an_image_folder_with_a_corrupt_file(tmp_path, digits_set):
    """A user's folder of PNGs, one of them broken and skipped: counted in metrics.json and the report."""
    from PIL import Image

    from flows.augment import run_augment

    root = tmp_path / "scans"
    for i in range(0, 1797, 2):
        label = digits_set.class_names[digits_set.labels[i]]
        (root / f"class-{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits_set.images[i, 0]).save(root / f"class-{label}" / f"{i:04d}.png")
    (root / "class-7" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    config = {**QUICK, "data": {"source": str(root), "skip_unreadable": True, "cache_dir": str(tmp_path / "cache"),
                                "long_tail": {"imbalance_ratio": 10}}, "gan": {"steps": 40}, "evaluate": LEAN_EVAL}
    outputs = run_augment(parse_config(config), tmp_path / "run")
    metrics = read_json(outputs["metrics"])
    assert metrics["dataset"]["format"] == "folder"
    assert metrics["dataset"]["skipped_unreadable"] == 1
    assert metrics["dataset"]["skipped_files"][0].startswith("class-7/broken.png")
    assert metrics["dataset"]["class_names"] == [f"class-{i}" for i in range(10)]
    assert {c["final"] for c in metrics["classes"]} == {metrics["dataset"]["target_count"]}
    assert "1 unreadable file(s) were skipped" in (tmp_path / "run" / "report.html").read_text()


def test_the_runs_report_opens_cleanly_in_chromium(run_dir):
    """The real run's report, not a fixture: loads without errors, every image decodes, nothing is
    fetched from outside the file; the screenshot stays in the run folder."""
    pytest.importorskip("playwright.sync_api")
    from gan_aug.report.browser import check_report, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium)")
    html = (run_dir / "report.html").read_text()
    check = check_report(run_dir / "report.html", run_dir / "screenshot.png")
    assert check.ok, check
    assert len(check.images) == html.count("<img ") >= 20
    with Image.open(run_dir / "screenshot.png") as shot:
        assert shot.format == "PNG" and shot.width >= 1000 and shot.height > 3000
