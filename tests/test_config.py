import pytest
import yaml

from gan_aug.config import AugmentConfig, ConfigError, load_config, parse_config


def test_yaml_round_trip(tmp_path):
    config = AugmentConfig(name="x")
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert load_config(path) == config


def test_partial_yaml_fills_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("gan:\n  steps: 10\n")
    config = load_config(path)
    assert config.gan.steps == 10 and config.gan.batch_size == AugmentConfig().gan.batch_size


def test_bad_value_names_the_file_and_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("gan:\n  steps: -3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml(.|\n)*gan\.steps"):
        load_config(path)


def test_misspelt_key_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match=r"gan\.stepz"):
        parse_config({"gan": {"stepz": 10}})


def test_splits_must_leave_training_data():
    with pytest.raises(ConfigError, match="val_fraction"):
        parse_config({"data": {"val_fraction": 0.45, "test_fraction": 0.45}})


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_section_hash_tracks_only_named_sections():
    a, b = AugmentConfig(), AugmentConfig(evaluate={"steps": 5})
    assert a.section_hash("data", "gan") == b.section_hash("data", "gan")
    assert a.section_hash() != b.section_hash()


def test_the_example_configs_load_and_demo_yaml_is_the_demo():
    from pathlib import Path

    from gan_aug.config import demo_config

    examples = Path(__file__).resolve().parents[1] / "data"
    loaded = {path.name: load_config(path) for path in sorted(examples.glob("*.yaml"))}
    assert {"demo.yaml", "fashion-mnist-lt.yaml", "image-folder.yaml"} <= set(loaded)
    assert loaded["demo.yaml"] == demo_config()  # what `gan-aug demo` runs, spelt out
    # The demo repeats exactly on any machine: a step count, never a time budget (a default one included).
    assert demo_config().gan.steps and demo_config().gan.time_budget_s == 0
