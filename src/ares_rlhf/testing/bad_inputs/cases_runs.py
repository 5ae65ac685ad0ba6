"""Bad-input cases: labelled CSVs, run stores, exports, stage commands, the command line."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ares_rlhf.testing.bad_inputs.harness import (
    BASE_CONFIG,
    GOOD_LABELS,
    Attempt,
    Workspace,
    case,
)


# labelled CSVs for `ares judge eval`
def _labels_case(ws: Workspace, data: str | bytes, *extra: str) -> Attempt:
    path = ws.write("labels.csv", data)
    return Attempt(["judge", "eval", "--judge", "refusal", "--labels", str(path), *extra])


@case("labels")
def case_labels_missing(ws):
    return Attempt(["judge", "eval", "--judge", "refusal", "--labels", str(ws.case_dir / "x.csv")])


@case("labels")
def case_labels_binary(ws):
    return _labels_case(ws, b"prompt,response,label\n" + os.urandom(512) + b"\x00")


@case("labels")
def case_labels_latin1(ws):
    return _labels_case(ws, GOOD_LABELS.replace("how to X", "caf\u00e9").encode("latin-1"))


@case("labels", accepted=True)
def case_labels_utf8_bom_accepted(ws):
    return _labels_case(ws, "\ufeff" + GOOD_LABELS)


@case("labels")
def case_labels_missing_column(ws):
    return _labels_case(ws, "prompt,answer,label\np,r,safe\n")


@case("labels")
def case_labels_unknown_label(ws):
    return _labels_case(ws, "prompt,response,label\np,r,perhaps\n")


@case("labels")
def case_labels_empty_file(ws):
    return _labels_case(ws, "")


@case("labels")
def case_labels_header_only(ws):
    return _labels_case(ws, "prompt,response,label\n")


@case("labels")
def case_labels_field_too_large(ws):
    return _labels_case(ws, 'prompt,response,label\np,"' + "r" * 200_000 + '",safe\n')


@case("labels")
def case_labels_where_unknown_column(ws):
    return _labels_case(ws, GOOD_LABELS, "--where", "colour=red")


@case("labels")
def case_judge_unknown(ws):
    return Attempt(["judge", "eval", "--judge", "oracle", "--labels", "builtin:refusal_eval"])


@case("labels")
def case_judge_threshold_out_of_range(ws):
    argv = ["judge", "eval", "--judge", "refusal", "--labels", "builtin:refusal_eval"]
    return Attempt([*argv, "--threshold", "2"])


@case("labels")
def case_judge_spec_with_credentials(ws):
    spec = "rubric:openai:http://bob:hunter2@127.0.0.1:9/v1#grader"
    attempt = Attempt(["judge", "eval", "--judge", spec, "--labels", "builtin:refusal_eval"])
    attempt.stderr_has.append("credentials")
    return attempt


# run stores
def _damaged(ws: Workspace, damage: Callable[[Path], None], *argv: str) -> Attempt:
    run = ws.run()
    _checkpoint(run)
    damage(run)
    return Attempt([argv[0], *([str(run)] if len(argv) < 2 else []), *argv[1:]], guard=run)


def _checkpoint(run: Path) -> None:
    db = sqlite3.connect(run / "ares.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _sql(statement: str, *params: Any) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        db = sqlite3.connect(run / "ares.db")
        db.execute(statement, params)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()

    return damage


def _replace_db(data: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "ares.db"
        path.write_bytes(data(path.read_bytes()))
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return damage


@case("store")
def case_store_folder_missing(ws):
    return Attempt(["report", str(ws.case_dir / "nothing")])


@case("store")
def case_store_folder_without_db(ws):
    return Attempt(["report", str(ws.case_dir)])


@case("store")
def case_store_random_bytes(ws):
    return _damaged(ws, _replace_db(lambda b: os.urandom(len(b))), "report")


@case("store")
def case_store_random_bytes_resume(ws):
    damage = _replace_db(lambda b: os.urandom(len(b)))
    return _damaged(ws, damage, "discover", "--resume", str(ws.case_dir / "run"), "--quiet")


@case("store")
def case_store_truncated_half(ws):
    return _damaged(ws, _replace_db(lambda b: b[: len(b) // 2]), "export")


@case("store")
def case_store_truncated_header(ws):
    return _damaged(ws, _replace_db(lambda b: b[:50]), "report")


@case("store")
def case_store_zero_bytes(ws):
    return _damaged(ws, _replace_db(lambda b: b""), "report")


@case("store")
def case_store_is_folder(ws):
    folder = ws.case_dir / "run"
    (folder / "ares.db").mkdir(parents=True)
    return Attempt(["report", str(folder)])


@case("store")
def case_store_text_file(ws):
    return _damaged(ws, _replace_db(lambda b: b"this is not a database\n" * 100), "export")


@case("store")
def case_store_schema_version_text(ws):
    return _damaged(ws, _sql("UPDATE meta SET value='one' WHERE key='schema_version'"), "report")


@case("store")
def case_store_schema_version_newer(ws):
    return _damaged(ws, _sql("UPDATE meta SET value='99' WHERE key='schema_version'"), "report")


@case("store")
def case_store_schema_version_missing(ws):
    return _damaged(ws, _sql("DELETE FROM meta WHERE key='schema_version'"), "report")


@case("store")
def case_store_no_tables(ws):
    return _damaged(ws, _sql("DROP TABLE probes"), "export")


@case("store")
def case_store_corrupt_json_row_export(ws):
    return _damaged(ws, _sql("UPDATE probes SET messages='{not json' WHERE seq=3"), "export")


@case("store")
def case_store_corrupt_json_row_resume(ws):
    run = ws.case_dir / "run"
    damage = _sql("UPDATE probes SET judge_categories='[1,' WHERE seq=5")
    return _damaged(ws, damage, "discover", "--resume", str(run), "--probes", "64", "--quiet")


@case("store")
def case_store_unknown_failure_type(ws):
    return _damaged(ws, _sql("UPDATE probes SET failure_type='Z' WHERE seq=2"), "export")


@case("store")
def case_store_corrupt_config(ws):
    run = ws.case_dir / "run"
    damage = _sql("UPDATE meta SET value='{broken' WHERE key='config'")
    return _damaged(ws, damage, "discover", "--resume", str(run), "--quiet")


@case("store")
def case_store_config_not_mapping(ws):
    return _damaged(ws, _sql("UPDATE meta SET value='[1, 2]' WHERE key='config'"), "repair-rm")


@case("store")
def case_store_corrupt_state(ws):
    run = ws.case_dir / "run"
    damage = _sql("UPDATE state SET value='{oops' WHERE key='discovery'")
    return _damaged(ws, damage, "discover", "--resume", str(run), "--probes", "64", "--quiet")


@case("store")
def case_store_stored_config_invalid(ws):
    config = json.dumps({**BASE_CONFIG, "budget": {"probes": -1}})
    return _damaged(ws, _sql("UPDATE meta SET value=? WHERE key='config'", config), "verify")


# exports
def _export(ws: Workspace, out: Path | str, *extra: str) -> Attempt:
    run = ws.run()
    out = Path(str(out).replace("RUN", str(run)))
    return Attempt(["export", str(run), "--out", str(out), *extra], guard=run)


@case("export")
def case_export_over_run_store(ws):
    return _export(ws, "RUN/ares.db")


@case("export")
def case_export_over_run_store_wal(ws):
    return _export(ws, "RUN/ares.db-wal")


@case("export")
def case_export_over_run_lock(ws):
    return _export(ws, "RUN/.ares.lock")


@case("export")
def case_export_over_run_config(ws):
    return _export(ws, "RUN/config.yaml", "--format", "parquet")


@case("export")
def case_export_over_run_store_relative_path(ws):
    run = ws.run()
    relative = os.path.relpath(run / "." / "ares.db")
    return Attempt(["export", str(run), "--out", relative], guard=run)


@case("export")
def case_export_out_is_folder(ws):
    return _export(ws, ws.case_dir)


@case("export")
def case_export_out_under_file(ws):
    blocker = ws.write("blocker", "x")
    return _export(ws, blocker / "probes.jsonl")


@case("export")
def case_export_out_not_writable(ws):
    return _export(ws, "/proc/self/probes.jsonl")


@case("export")
def case_export_out_is_device(ws):
    return _export(ws, "/dev/null")


@case("export")
def case_export_unknown_format(ws):
    return Attempt(["export", str(ws.run()), "--format", "xlsx"])


@case("export", subprocess_only=True)
def case_export_disk_full(ws):
    attempt = _export(ws, ws.case_dir / "out" / "probes.jsonl")
    attempt.file_size_limit = 48 * 1024  # room for the store's 32 KiB index; the export is ~70 KiB
    attempt.absent = [
        ws.case_dir / "out" / "probes.jsonl",
        ws.case_dir / "out" / "probes.jsonl.partial",
    ]
    return attempt


# stage commands (they fail on their inputs before loading any model)
@case("stages")
def case_repair_rm_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["repair-rm", str(run)], guard=run, hold_lock=run)
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("stages")
def case_repair_rm_config_bad_yaml(ws):
    run = ws.run()
    bad = ws.write("repair.yaml", "epochs: [1,\n")
    return Attempt(["repair-rm", str(run), "--config", str(bad)], guard=run)


@case("stages")
def case_repair_rm_config_binary(ws):
    run = ws.run()
    bad = ws.write("repair.yaml", os.urandom(300) + b"\x00")
    return Attempt(["repair-rm", str(run), "--config", str(bad)], guard=run)


@case("stages")
def case_repair_rm_config_missing(ws):
    run = ws.run()
    return Attempt(["repair-rm", str(run), "--config", str(ws.case_dir / "no.yaml")], guard=run)


@case("stages")
def case_repair_rm_negative_epochs(ws):
    run = ws.run()
    return Attempt(["repair-rm", str(run), "--epochs", "-1"], guard=run)


@case("stages")
def case_repair_rm_untrainable_model(ws):
    run = ws.run()  # the base run's reward model is scripted: nothing to fine-tune
    return Attempt(["repair-rm", str(run)], guard=run)


@case("stages")
def case_repair_rm_missing_anchor_file(ws):
    run = ws.run()
    anchors = str(ws.case_dir / "anchors.jsonl")
    return Attempt(["repair-rm", str(run), "--anchor-dataset", anchors], guard=run)


@case("stages")
def case_repair_policy_trainer_option_bad_yaml(ws):
    run = ws.run()
    argv = ["repair-policy", str(run), "--trainer-option", "use_vllm=[unclosed"]
    return Attempt(argv, guard=run)


@case("stages")
def case_repair_policy_trainer_option_no_equals(ws):
    run = ws.run()
    return Attempt(["repair-policy", str(run), "--trainer-option", "use_vllm"], guard=run)


@case("stages")
def case_repair_policy_zero_steps(ws):
    run = ws.run()
    return Attempt(["repair-policy", str(run), "--steps", "0"], guard=run)


@case("stages")
def case_repair_policy_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["repair-policy", str(run)], guard=run, hold_lock=run)
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("stages")
def case_verify_locked_run(ws):
    run = ws.run()
    attempt = Attempt(["verify", str(run)], guard=run, hold_lock=run)
    attempt.stderr_has.append("in use by PID")
    return attempt


@case("stages")
def case_verify_bad_judge_spec(ws):
    run = ws.run()
    return Attempt(["verify", str(run), "--judge", "classifier:nomodel"], guard=run)


# the command line itself
@case("cli")
def case_unknown_command(ws):
    return Attempt(["frobnicate"])


@case("cli")
def case_unknown_option(ws):
    return Attempt(["report", str(ws.case_dir), "--colour"])


@case("cli")
def case_missing_argument(ws):
    return Attempt(["export"])


@case("cli")
def case_config_missing_action(ws):
    return Attempt(["config"])
