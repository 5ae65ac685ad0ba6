"""Bad-input cases: config files, discover arguments, catalogs, arenas."""

from __future__ import annotations

import os
import random
from typing import Any

import yaml

from ares_rlhf.testing.bad_inputs.harness import (
    BASE_CONFIG,
    GOOD_ARENA,
    GOOD_CATALOG,
    Attempt,
    Workspace,
    case,
)


def _config_case(ws: Workspace, data: str | bytes, command: str = "validate") -> Attempt:
    path = ws.write("config.yaml", data)
    if command == "discover":
        return Attempt(["discover", str(path), "--quiet"], absent=[ws.case_dir / "runs"])
    return Attempt(["config", command, str(path)])


def _yaml(**changes: Any) -> str:
    return yaml.safe_dump({**BASE_CONFIG, **changes})


# config files
@case("config")
def case_config_missing(ws):
    return Attempt(["config", "validate", str(ws.case_dir / "nothing.yaml")])


@case("config")
def case_config_is_folder(ws):
    return Attempt(["config", "validate", str(ws.case_dir)])


@case("config")
def case_config_empty(ws):
    return _config_case(ws, "")


@case("config")
def case_config_binary(ws):
    return _config_case(ws, random.Random(1).randbytes(4096))


@case("config")
def case_config_binary_discover(ws):
    return _config_case(ws, b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, "discover")


@case("config")
def case_config_latin1(ws):
    return _config_case(ws, _yaml().encode() + b"# caf\xe9 cr\xe8me\n", "discover")


@case("config")
def case_config_utf16(ws):
    return _config_case(ws, _yaml().encode("utf-16"))


@case("config", accepted=True)
def case_config_utf8_bom_accepted(ws):
    return _config_case(ws, "\ufeff" + _yaml())


@case("config")
def case_config_bad_yaml(ws):
    return _config_case(ws, "policy: {spec: [unclosed\nreward_model: x\n")


@case("config")
def case_config_yaml_tabs(ws):
    return _config_case(ws, "policy:\n\tspec: hf:a/b\n")


@case("config")
def case_config_yaml_duplicate_anchor_bomb(ws):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    lines += ["policy: {spec: 'hf:a/b', options: {bomb: *a6}}", "reward_model: {spec: 'hf:c/d'}"]
    return _config_case(ws, "\n".join(lines) + "\n")


@case("config")
def case_config_yaml_deep_nesting(ws):
    return _config_case(ws, "x: " + "[" * 1200 + "]" * 1200 + "\n")


@case("config")
def case_config_top_level_list(ws):
    return _config_case(ws, "- policy\n- reward_model\n")


@case("config")
def case_config_top_level_scalar(ws):
    return _config_case(ws, "just a string\n")


@case("config")
def case_config_too_large(ws):
    return _config_case(ws, _yaml() + "# " + "x" * (1024 * 1024 + 10) + "\n")


@case("config")
def case_config_unknown_key(ws):
    return _config_case(ws, _yaml(polcy={"spec": "hf:a/b"}))


@case("config")
def case_config_missing_policy(ws):
    data = {k: v for k, v in BASE_CONFIG.items() if k != "policy"}
    return _config_case(ws, yaml.safe_dump(data))


@case("config")
def case_config_spec_without_scheme(ws):
    return _config_case(ws, _yaml(policy={"spec": "Qwen3-1.7B"}))


@case("config")
def case_config_unknown_scheme(ws):
    return _config_case(ws, _yaml(reward_model={"spec": "nope:rm"}), "discover")


@case("config")
def case_config_negative_budget(ws):
    return _config_case(ws, _yaml(budget={"probes": -5}))


@case("config")
def case_config_budget_not_number(ws):
    return _config_case(ws, _yaml(budget={"probes": "many"}))


@case("config")
def case_config_seed_is_list(ws):
    return _config_case(ws, _yaml(seed=[1, 2]))


@case("config")
def case_config_huge_value_in_message(ws):
    return _config_case(ws, _yaml(seed="9" * 100_000 + "x"))


@case("config")
def case_config_name_parent_escape(ws):
    return _config_case(ws, _yaml(name="../../escaped"), "discover")


@case("config")
def case_config_name_absolute(ws):
    return _config_case(ws, _yaml(name=str(ws.case_dir / "abs")), "discover")


@case("config")
def case_config_name_with_slash(ws):
    return _config_case(ws, _yaml(name="a/b"))


@case("config")
def case_config_name_empty(ws):
    return _config_case(ws, _yaml(name=""))


@case("config")
def case_config_name_too_long(ws):
    return _config_case(ws, _yaml(name="n" * 300))


@case("config")
def case_config_name_newline(ws):
    return _config_case(ws, _yaml(name="two\nlines"))


@case("config")
def case_config_url_credentials(ws):
    spec = "openai:http://alice:s3cret@127.0.0.1:9/v1#m"
    attempt = _config_case(ws, _yaml(policy={"spec": spec}), "discover")
    attempt.stderr_has.append("api_key_env")
    return attempt


@case("config")
def case_hub_id_while_offline(ws):
    spec = "classifier:hf:meta-llama/Llama-Guard-3-1B"
    attempt = Attempt(["judge", "eval", "--judge", spec, "--labels", "builtin:refusal_eval"])
    attempt.stderr_has.append("--allow-hub")
    return attempt


@case("config")
def case_config_unknown_judge(ws):
    return _config_case(ws, _yaml(judge={"kind": "oracle"}))


@case("config")
def case_config_rubric_without_model(ws):
    return _config_case(ws, _yaml(judge={"kind": "rubric"}), "discover")


@case("config")
def case_config_quantile_out_of_range(ws):
    return _config_case(ws, _yaml(typing={"reward_threshold_quantile": 3}))


@case("config")
def case_config_temperature_too_high(ws):
    return _config_case(ws, _yaml(policy={"spec": "scripted:p", "generation": {"temperature": 50}}))


@case("config")
def case_config_missing_catalog(ws):
    return _config_case(ws, _yaml(catalog=["builtin", "missing.yaml"]), "discover")


@case("config")
def case_config_catalog_not_list(ws):
    return _config_case(ws, _yaml(catalog={"a": 1}))


@case("config")
def case_config_instructions_file_missing(ws):
    mentor = {"kind": "llm", "model": {"spec": "scripted:m", "options": {"responses": ["x"]}}}
    mentor["instructions_file"] = str(ws.case_dir / "none.txt")
    return _config_case(ws, _yaml(mentor=mentor), "discover")


# discover: run folders and arguments
@case("discover")
def case_output_dir_is_file(ws):
    blocker = ws.write("blocker", "not a folder")
    return Attempt(["discover", str(ws.config(output_dir=str(blocker))), "--quiet"])


@case("discover")
def case_output_dir_under_file(ws):
    blocker = ws.write("blocker", "not a folder")
    path = ws.config(output_dir=str(blocker / "runs"))
    return Attempt(["discover", str(path), "--quiet"])


@case("discover")
def case_output_dir_not_writable(ws):
    # /proc refuses new folders even to root
    return Attempt(["discover", str(ws.config(output_dir="/proc/self/ares-runs")), "--quiet"])


@case("discover")
def case_run_dir_holds_run(ws):
    run = ws.run()
    return Attempt(["discover", str(ws.config()), "--run-dir", str(run), "--quiet"], guard=run)


@case("discover")
def case_run_dir_is_file(ws):
    blocker = ws.write("blocker", "x")
    return Attempt(["discover", str(ws.config()), "--run-dir", str(blocker), "--quiet"])


@case("discover")
def case_probes_zero(ws):
    return Attempt(["discover", str(ws.config()), "--probes", "0", "--quiet"])


@case("discover")
def case_probes_not_integer(ws):
    return Attempt(["discover", str(ws.config()), "--probes", "ten"])


@case("discover")
def case_config_and_resume(ws):
    run = ws.run()
    return Attempt(["discover", str(ws.config()), "--resume", str(run)], guard=run)


@case("discover")
def case_no_config_no_resume(ws):
    return Attempt(["discover", "--quiet"])


@case("discover")
def case_resume_and_run_dir(ws):
    run = ws.run()
    return Attempt(["discover", "--resume", str(run), "--run-dir", str(run)], guard=run)


@case("discover")
def case_resume_missing_folder(ws):
    return Attempt(["discover", "--resume", str(ws.case_dir / "nothing")])


@case("discover")
def case_resume_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["discover", "--resume", str(run), "--probes", "96", "--quiet"], guard=run)
    attempt.hold_lock = run
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("discover")
def case_http_server_down_before_anything_stored(ws):
    rm = {"spec": "openai:http://127.0.0.1:9/v1#m", "options": {"max_retries": 0, "timeout": 2}}
    path = ws.config(reward_model=rm)
    attempt = Attempt(["discover", str(path), "--quiet"], absent=[ws.case_dir / "runs"])
    attempt.stderr_has.append("removed")
    return attempt


@case("discover")
def case_http_server_down_mid_run(ws):
    policy = {"spec": "openai:http://127.0.0.1:9/v1#m", "options": {"max_retries": 0}}
    run_dir = ws.case_dir / "new-run"
    path = ws.config(policy=policy)
    attempt = Attempt(["discover", str(path), "--run-dir", str(run_dir), "--quiet"])
    attempt.stderr_has.append(f"ares discover --resume {run_dir}")
    return attempt


@case("discover", subprocess_only=True)
def case_disk_full_during_discovery(ws):
    run = ws.run()
    size = (run / "ares.db").stat().st_size
    attempt = Attempt(["discover", "--resume", str(run), "--probes", "4000", "--quiet"], guard=run)
    attempt.file_size_limit = size + 64 * 1024
    attempt.stderr_has.append(f"ares discover --resume {run}")
    return attempt


# catalogs
def _catalog_case(ws: Workspace, data: str | bytes) -> Attempt:
    path = ws.write("catalog.yaml", data)
    return Attempt(["catalog", "--catalog", str(path), "validate"])


def _catalog(**changes: Any) -> str:
    return yaml.safe_dump({**GOOD_CATALOG, **changes})


def _goal(**changes: Any) -> list[dict[str, Any]]:
    return [{**GOOD_CATALOG["goals"][0], **changes}]


@case("catalog")
def case_catalog_missing(ws):
    return Attempt(["catalog", "--catalog", str(ws.case_dir / "none.yaml"), "list"])


@case("catalog")
def case_catalog_is_folder(ws):
    return Attempt(["catalog", "--catalog", str(ws.case_dir), "list"])


@case("catalog")
def case_catalog_binary(ws):
    return _catalog_case(ws, os.urandom(2048) + b"\x00")


@case("catalog")
def case_catalog_latin1(ws):
    return _catalog_case(ws, _catalog().replace("a topic", "caf\u00e9").encode("latin-1"))


@case("catalog", accepted=True)
def case_catalog_utf8_bom_accepted(ws):
    return _catalog_case(ws, "\ufeff" + _catalog())


@case("catalog")
def case_catalog_bad_yaml_multiline_error(ws):
    return _catalog_case(ws, "topics:\n  - id: t1\n    description: [unclosed\n  - id: t2\n")


@case("catalog")
def case_catalog_top_level_list(ws):
    return _catalog_case(ws, "- a\n- b\n")


@case("catalog")
def case_catalog_unknown_section(ws):
    return _catalog_case(ws, _catalog(weapons=[]))


@case("catalog")
def case_catalog_duplicate_id(ws):
    topic = GOOD_CATALOG["topics"][0]
    return _catalog_case(ws, _catalog(topics=[topic, topic]))


@case("catalog")
def case_catalog_bad_id(ws):
    return _catalog_case(ws, _catalog(goals=_goal(id="Bad Id")))


@case("catalog")
def case_catalog_missing_description(ws):
    return _catalog_case(ws, _catalog(goals=_goal(description="")))


@case("catalog")
def case_catalog_fragment_not_text(ws):
    return _catalog_case(ws, _catalog(goals=_goal(asks=[{"nested": "map"}])))


@case("catalog")
def case_catalog_unknown_slot(ws):
    return _catalog_case(ws, _catalog(goals=_goal(asks=["explain {weapon}"])))


@case("catalog")
def case_catalog_override_unknown(ws):
    return _catalog_case(ws, _catalog(goals=_goal(override=True)))


@case("catalog")
def case_catalog_empty_section(ws):
    return _catalog_case(ws, _catalog(goals=[]))


@case("catalog")
def case_catalog_10mb_field(ws):
    return _catalog_case(ws, _catalog() + "description: " + "x" * 10**7 + "\n")


@case("catalog")
def case_catalog_long_fragment(ws):
    return _catalog_case(ws, _catalog(goals=_goal(asks=["explain {subject} " + "y" * 5000])))


@case("catalog")
def case_catalog_too_many_fragments(ws):
    return _catalog_case(
        ws, _catalog(goals=_goal(asks=[f"ask {i} {{subject}}" for i in range(600)]))
    )


@case("catalog")
def case_catalog_too_many_combinations(ws):
    def many(kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [{"id": f"{kind}{i}", "description": "x", **fields} for i in range(60)]

    data = {
        "replace": True,
        "topics": many("t", subjects=["s"], redirects=["r"]),
        "personas": many("p", intros=["i"]),
        "tactics": many("k", frames=["{request}"]),
        "goals": many("g", asks=["a"], malicious=["m"], safe=["s"]),
    }
    return _catalog_case(ws, yaml.safe_dump(data))


@case("catalog")
def case_catalog_show_unknown_id(ws):
    return Attempt(["catalog", "show", "tactic", "no_such_tactic"])


@case("catalog")
def case_catalog_in_config_is_binary(ws):
    catalog = ws.write("catalog.yaml", b"\xff\xfe\x00\x01" * 100)
    path = ws.config(catalog=["builtin", str(catalog)])
    return Attempt(["discover", str(path), "--quiet"], absent=[ws.case_dir / "runs"])


# arenas
def _arena_case(ws: Workspace, data: str | bytes) -> Attempt:
    path = ws.write("arena.yaml", data)
    out = ws.case_dir / "bench"
    argv = ["bench", "discovery", "--arena", str(path), "--budget", "16", "--seeds", "1"]
    return Attempt([*argv, "--no-plot", "--out", str(out)])


def _arena(**changes: Any) -> str:
    return yaml.safe_dump({**GOOD_ARENA, **changes})


@case("arena")
def case_arena_missing(ws):
    return Attempt(["bench", "discovery", "--arena", str(ws.case_dir / "none.yaml")])


@case("arena")
def case_arena_binary(ws):
    return _arena_case(ws, os.urandom(1024) + b"\x00")


@case("arena")
def case_arena_latin1(ws):
    return _arena_case(ws, _arena().encode() + b"description: ar\xe8ne\n")


@case("arena")
def case_arena_bad_yaml(ws):
    return _arena_case(ws, "name: x\nregions: [\n  {id: a\n")


@case("arena")
def case_arena_unknown_key(ws):
    return _arena_case(ws, _arena(colour="red"))


@case("arena")
def case_arena_probability_out_of_range(ws):
    return _arena_case(ws, _arena(base={"policy_fail": 1.5, "rm_fail": 0.1}))


@case("arena")
def case_arena_unknown_component(ws):
    region = {**GOOD_ARENA["regions"][0], "when": {"tactic": ["no_such_tactic"]}}
    return _arena_case(ws, _arena(regions=[region]))


@case("arena")
def case_arena_missing_regions(ws):
    return _arena_case(ws, yaml.safe_dump({"name": "x"}))


@case("arena")
def case_arena_missing_catalog(ws):
    return _arena_case(ws, _arena(catalog="no-such-catalog.yaml"))


@case("arena")
def case_arena_too_large(ws):
    return _arena_case(ws, _arena() + "#" + "z" * (5 * 1024 * 1024) + "\n")


@case("arena")
def case_bench_budget_zero(ws):
    return Attempt(["bench", "discovery", "--arena", "single", "--budget", "0"])


@case("arena")
def case_bench_bad_option(ws):
    return Attempt(["bench", "discovery", "--arena", "single", "--option", "explore=lots"])
