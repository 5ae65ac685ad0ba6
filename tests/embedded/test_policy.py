"""The embedded policy: its built-in SFT data and its atomically cached build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ares_rlhf.backends import SamplingParams, create_chat_model
from ares_rlhf.backends.gguf_pkg import COMPLETE_MARKER
from ares_rlhf.embedded.policy import (
    FULL_RECIPE,
    QUICK_RECIPE,
    PolicyRecipe,
    build_initial_policy,
    policy_cache_dir,
)
from ares_rlhf.embedded.policy_data import build_examples, evaluation_prompts, harmful_requests
from ares_rlhf.text.refusal import is_refusal

PLACEHOLDER = re.compile(r"\[[^\]]+\]")


def test_every_slot_is_filled_and_placeholders_are_well_formed() -> None:
    for example in build_examples():
        for text in (example.prompt, example.response):
            assert not re.search(r"\{[a-z_]*\}", text), text  # no unfilled {slot}
            assert text.count("[") == text.count("]"), text
            for placeholder in PLACEHOLDER.findall(text):
                assert placeholder == placeholder.upper(), placeholder


def test_refusals_are_refusals_and_helpful_answers_are_not() -> None:
    examples = build_examples()
    refusals = [e for e in examples if e.kind == "refusal"]
    helpful = [e for e in examples if e.kind == "helpful"]
    assert len(refusals) >= len(harmful_requests()) and len(helpful) >= 40
    for example in refusals:
        assert is_refusal(example.response), example.response
    for example in helpful:
        assert not is_refusal(example.response), example.response


def test_refusals_carry_no_harmful_detail() -> None:
    # a refusal says no and offers an alternative: no steps, code or lists
    for example in build_examples():
        if example.kind == "refusal":
            assert not re.search(r"(^|\n)\s*(\d+\.|-)\s", example.response)
            assert "```" not in example.response


def test_data_is_deterministic_and_evaluation_prompts_are_unseen() -> None:
    assert build_examples(0) == build_examples(0)
    seen = {e.prompt for e in build_examples()}
    for prompts in evaluation_prompts().values():
        assert prompts and not seen & set(prompts)


def test_quick_and_full_builds_have_separate_cache_keys(tmp_path: Path) -> None:
    assert QUICK_RECIPE.steps < FULL_RECIPE.steps
    assert policy_cache_dir(tmp_path, quick=True) != policy_cache_dir(tmp_path)
    assert policy_cache_dir(tmp_path).parent == tmp_path / "embedded"


def test_build_caches_atomically_and_reuses(tmp_path: Path) -> None:
    calls: list[Path] = []

    def fake_train(base: Path, out: Path, recipe: PolicyRecipe) -> dict:
        calls.append(out)
        (out / "config.json").write_text("{}")
        return {"train_loss": 1.0}

    recipe = PolicyRecipe(steps=1)
    final = tmp_path / "embedded" / recipe.key
    final.mkdir(parents=True)  # a half-written earlier build (no marker)
    folder = build_initial_policy(tmp_path, recipe=recipe, base_dir=tmp_path, train=fake_train)
    assert folder == final and (folder / COMPLETE_MARKER).is_file()
    assert calls and calls[0] != final
    build_initial_policy(tmp_path, recipe=recipe, base_dir=tmp_path, train=fake_train)
    assert len(calls) == 1


def test_interrupted_build_is_not_used(tmp_path: Path) -> None:
    def interrupted(base: Path, out: Path, recipe: PolicyRecipe) -> dict:
        (out / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    recipe = PolicyRecipe(steps=1)
    with pytest.raises(KeyboardInterrupt):
        build_initial_policy(tmp_path, recipe=recipe, base_dir=tmp_path, train=interrupted)
    assert not (tmp_path / "embedded" / recipe.key).exists()


def test_real_lora_sft_on_a_tiny_model(tmp_path: Path, tiny_lm_dir: Path) -> None:
    recipe = PolicyRecipe(steps=2, batch_size=4, max_length=64, lora_r=4, lora_alpha=8)
    folder = build_initial_policy(tmp_path, recipe=recipe, base_dir=tiny_lm_dir)
    assert (folder / "model.safetensors").is_file()
    assert not (folder / "adapter_config.json").exists()  # LoRA merged: a plain checkpoint
    marker = (folder / COMPLETE_MARKER).read_text()
    assert '"train_loss"' in marker and '"steps": 2' in marker
    policy = create_chat_model(f"hf:{folder}", device="cpu")
    answer = policy.generate(
        [[{"role": "user", "content": "How do I boil an egg?"}]],
        SamplingParams(max_new_tokens=4, temperature=1.0, seed=0),
    )
    assert len(answer) == 1


def test_embedded_backend_serves_the_built_folders(
    monkeypatch: pytest.MonkeyPatch, tiny_lm_dir: Path, tiny_rm_dir: Path
) -> None:
    from ares_rlhf.backends import create_reward_model
    from ares_rlhf.embedded import backend

    asked: list[tuple[str, bool, object]] = []

    def fake_policy(*, quick: bool = False, cache_dir=None) -> Path:
        asked.append(("policy", quick, cache_dir))
        return tiny_lm_dir

    def fake_rm(*, quick: bool = False, cache_dir=None) -> Path:
        asked.append(("rm", quick, cache_dir))
        return tiny_rm_dir

    monkeypatch.setattr(backend, "policy_folder", fake_policy)
    monkeypatch.setattr(backend, "reward_model_folder", fake_rm)
    chat = create_chat_model("embedded:policy", quick=True, cache_dir="/c", device="cpu")
    assert chat.model_id == "embedded:policy-quick"
    reward = create_reward_model("embedded:reward-model", device="cpu", max_length=64)
    assert reward.model_id == "embedded:reward-model"
    assert len(reward.score([[{"role": "user", "content": "hi"}]], ["hello"])) == 1
    assert asked == [("policy", True, "/c"), ("rm", False, None)]


def test_embedded_backend_rejects_unknown_targets() -> None:
    from ares_rlhf.backends import create_reward_model
    from ares_rlhf.errors import BackendError

    with pytest.raises(BackendError, match="embedded:reward-model.*is a reward model"):
        create_chat_model("embedded:reward-model")
    with pytest.raises(BackendError, match="no such embedded reward model"):
        create_reward_model("embedded:gpt")


def test_policy_template_closes_model_turns_with_eos_and_keeps_user_turns() -> None:
    from jinja2 import Template

    from ares_rlhf.embedded.policy import policy_chat_template

    text = Template(policy_chat_template("<eos>")).render(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"},
        ],
        bos_token="<bos>",
        add_generation_prompt=True,
    )
    assert text == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<eos>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    )


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", re.sub(r"\{[^}]*\}", " ", text.lower())).split()


def test_sft_data_shares_no_wording_with_the_component_catalog() -> None:
    # blind spots must come from what the data covers, never from copying the red-team
    # catalog's prompt wording (its safe-response redirects may overlap with refusals)
    from ares_rlhf.taxonomy import load_catalog

    ngram = 5
    corpus = (
        " "
        + " ".join(" ".join(_words(f"{e.prompt} . {e.response}")) for e in build_examples())
        + " "
    )
    shared = set()
    for components in load_catalog().components.values():
        for component in components.values():
            texts = [a for alternatives in component.turns for a in alternatives]
            for name in set(component.fragments) & {"subjects", "intros", "frames", "asks"}:
                texts += component.fragments[name]
            for fragment in texts:
                words = _words(fragment)
                for start in range(len(words) - ngram + 1):
                    phrase = " ".join(words[start : start + ngram])
                    if f" {phrase} " in corpus:
                        shared.add(phrase)
    assert not shared, sorted(shared)
