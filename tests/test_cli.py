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
