import yaml
from typer.testing import CliRunner

from gan_aug.cli import app
from gan_aug.config import AugmentConfig


def test_config_command_prints_the_defaults():
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0
    assert AugmentConfig.model_validate(yaml.safe_load(result.output)) == AugmentConfig()


def test_bad_config_exits_2_naming_the_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("evaluate:\n  steps: zero\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "evaluate.steps" in result.output
    assert not (tmp_path / "out").exists()  # nothing is written for a config that cannot run


def test_verify_exits_0_on_intact_shards_and_1_naming_each_mismatch(tmp_path, tiny_set):
    import numpy as np

    from gan_aug.config import ShardConfig
    from gan_aug.mix import TrainingMix
    from gan_aug.shards import write_shards
    from gan_aug.synthetic import SyntheticSet

    synthetic = SyntheticSet(tiny_set.images[:4].copy(), np.array([1, 2, 2, 2]), np.arange(4), "ab" * 32,
                             {"d_score": np.ones(4, np.float32)})
    write_shards(tmp_path, TrainingMix(tiny_set, synthetic, np.zeros(0, np.int64)), ShardConfig(rows_per_shard=10),
                 validation=tiny_set)
    good = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert good.exit_code == 0, good.output
    assert "OK: 6 shard(s), 46 rows, 46 image files" in good.output.replace("\n", " ")
    image = next((tmp_path / "images" / "validation" / "c").iterdir())
    image.write_bytes(b"not a png")
    (tmp_path / "shards" / "train-00001-of-00003.parquet").unlink()
    bad = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert bad.exit_code == 1
    output = bad.output.replace("\n", " ")
    assert "train-00001-of-00003.parquet: missing" in output and f"{image.name}: sha256 differs" in output
    assert "FAILED: 2 problem(s)" in output
    missing = CliRunner().invoke(app, ["verify", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no manifest.json" in missing.output
