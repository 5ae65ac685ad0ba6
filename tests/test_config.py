from pathlib import Path

import pytest
import yaml

from ares_rlhf.config import RunConfig, config_to_yaml, load_config, parse_config
from ares_rlhf.errors import ConfigError

MINIMAL = {"policy": {"spec": "hf:Qwen/Qwen3-0.6B"}, "reward_model": {"spec": "hf:some/rm"}}


def write(tmp_path: Path, data: object, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.search.strategy == "adaptive"
    assert config.judge.kind == "refusal"
    assert config.repair_policy.algorithm == "grpo"
    assert config.repair_policy.beta > 0
    assert config.catalog == ["builtin"]


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    again = parse_config(yaml.safe_load(config_to_yaml(config)))
    assert again == config


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({**MINIMAL, "budget": {"probes": 0}}, "budget.probes"),
        ({**MINIMAL, "search": {"strategy": "random-walk"}}, "search.strategy"),
        ({"policy": {"spec": "hf:x/y"}}, "reward_model"),
        ({**MINIMAL, "policy": {"spec": "no-scheme"}}, "policy.spec"),
        ({**MINIMAL, "typo_field": 1}, "typo_field"),
        ({**MINIMAL, "repair_rm": {"learning_rate": -1}}, "repair_rm.learning_rate"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, data: dict, fragment: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message
    assert "\n" not in message


def test_not_yaml_and_not_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "policy: [unclosed"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_relative_paths_resolve_against_config_file(tmp_path: Path) -> None:
    (tmp_path / "arena.yaml").write_text("name: x\n")
    (tmp_path / "model").mkdir()
    data = {
        "policy": {"spec": "sim:arena.yaml"},
        "reward_model": {"spec": "hf:model"},
        "catalog": ["builtin", "extra.yaml"],
    }
    config = load_config(write(tmp_path, data))
    assert config.policy.spec == f"sim:{tmp_path / 'arena.yaml'}"
    assert config.reward_model.spec == f"hf:{tmp_path / 'model'}"
    assert config.catalog == ["builtin", str(tmp_path / "extra.yaml")]
    # a hub id is left alone
    assert RunConfig.model_validate(MINIMAL).policy.spec == "hf:Qwen/Qwen3-0.6B"
