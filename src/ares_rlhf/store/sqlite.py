"""The run store: one embedded SQLite database (WAL mode) per run folder.

It holds the run config, every probe, the artifacts later stages produce (checkpoints, metrics)
and small pieces of resumable state. Every write is one transaction, so a run killed at any
moment keeps everything committed before it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ares_rlhf.errors import StoreError
from ares_rlhf.records import (
    Artifact,
    ComponentSpec,
    EvalAnswer,
    FailureType,
    JudgeLabel,
    JudgeVerdict,
    Probe,
    RewardScores,
)
from ares_rlhf.store.files import (
    make_run_dir,
    remove_empty_dirs,
    remove_store_files,
    sqlite_header_problem,
)
from ares_rlhf.store.lock import RunLock

SCHEMA_VERSION = 1
DB_NAME = "ares.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    phase TEXT NOT NULL,
    batch INTEGER NOT NULL,
    created_at REAL NOT NULL,
    topic TEXT NOT NULL, persona TEXT NOT NULL, tactic TEXT NOT NULL, goal TEXT NOT NULL,
    messages TEXT NOT NULL,
    prompt TEXT NOT NULL,
    malicious TEXT NOT NULL,
    safe TEXT NOT NULL,
    policy_response TEXT NOT NULL,
    judge_label TEXT NOT NULL,
    judge_score REAL,
    judge_reason TEXT NOT NULL,
    judge_categories TEXT NOT NULL,
    rm_policy REAL, rm_malicious REAL, rm_safe REAL,
    failure_type TEXT NOT NULL,
    policy_failed INTEGER,
    rm_failed INTEGER,
    policy_id TEXT NOT NULL, reward_model_id TEXT NOT NULL, mentor_id TEXT NOT NULL, judge_id TEXT NOT NULL,
    mentor_refused INTEGER NOT NULL,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS probes_phase ON probes(phase, seq);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    path TEXT,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
"""

_EVAL_ANSWERS_TABLE = """
CREATE TABLE IF NOT EXISTS eval_answers (
    system TEXT NOT NULL, policy_id TEXT NOT NULL, sampling TEXT NOT NULL,
    benchmark TEXT NOT NULL, item_id TEXT NOT NULL,
    prompt TEXT NOT NULL, answer TEXT NOT NULL,
    judge_id TEXT NOT NULL, judge_label TEXT, judge_score REAL, judge_reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (system, policy_id, sampling, benchmark, item_id)
)"""
"""Benchmark answers of ``ares eval`` (see :meth:`RunStore.add_eval_answers`). A store made before
this table existed gets it on its first eval write (``CREATE TABLE IF NOT EXISTS``)."""
_SCHEMA += _EVAL_ANSWERS_TABLE + ";\n"
_EVAL_ANSWER_COLUMNS = (
    "system", "policy_id", "sampling", "benchmark", "item_id", "prompt", "answer",
    "judge_id", "judge_label", "judge_score", "judge_reason", "created_at",
)  # fmt: skip

_PROBE_COLUMNS = (
    "id",
    "phase",
    "batch",
    "created_at",
    "topic",
    "persona",
    "tactic",
    "goal",
    "messages",
    "prompt",
    "malicious",
    "safe",
    "policy_response",
    "judge_label",
    "judge_score",
    "judge_reason",
    "judge_categories",
    "rm_policy",
    "rm_malicious",
    "rm_safe",
    "failure_type",
    "policy_failed",
    "rm_failed",
    "policy_id",
    "reward_model_id",
    "mentor_id",
    "judge_id",
    "mentor_refused",
    "extra",
)


def _bool_or_none(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _probe_row(probe: Probe) -> tuple[Any, ...]:
    rewards = probe.rewards
    return (
        probe.id,
        probe.phase,
        probe.batch,
        probe.created_at,
        *probe.spec.key,
        json.dumps(probe.messages, ensure_ascii=False),
        probe.prompt,
        probe.malicious,
        probe.safe,
        probe.policy_response,
        probe.judge.label.value,
        probe.judge.score,
        probe.judge.reason,
        json.dumps(probe.judge.categories),
        rewards.policy if rewards else None,
        rewards.malicious if rewards else None,
        rewards.safe if rewards else None,
        probe.failure_type.value,
        None if probe.policy_failed is None else int(probe.policy_failed),
        None if probe.rm_failed is None else int(probe.rm_failed),
        probe.policy_id,
        probe.reward_model_id,
        probe.mentor_id,
        probe.judge_id,
        int(probe.mentor_refused),
        json.dumps(probe.extra, ensure_ascii=False),
    )


def _row_probe(row: sqlite3.Row) -> Probe:
    rewards = None
    if row["rm_policy"] is not None or row["rm_malicious"] is not None:
        rewards = RewardScores(row["rm_policy"], row["rm_malicious"], row["rm_safe"])
    return Probe(
        spec=ComponentSpec(row["topic"], row["persona"], row["tactic"], row["goal"]),
        messages=json.loads(row["messages"]),
        malicious=row["malicious"],
        safe=row["safe"],
        policy_response=row["policy_response"],
        judge=JudgeVerdict(
            JudgeLabel(row["judge_label"]),
            row["judge_score"],
            row["judge_reason"],
            json.loads(row["judge_categories"]),
        ),
        rewards=rewards,
        failure_type=FailureType(row["failure_type"]),
        policy_failed=_bool_or_none(row["policy_failed"]),
        rm_failed=_bool_or_none(row["rm_failed"]),
        policy_id=row["policy_id"],
        reward_model_id=row["reward_model_id"],
        mentor_id=row["mentor_id"],
        judge_id=row["judge_id"],
        mentor_refused=bool(row["mentor_refused"]),
        batch=row["batch"],
        phase=row["phase"],
        id=row["id"],
        created_at=row["created_at"],
        extra=json.loads(row["extra"]),
    )


class RunStore:
    """A run folder's SQLite store. Use :meth:`create` for a new run and :meth:`open` to reopen one."""

    def __init__(
        self, run_dir: Path, connection: sqlite3.Connection, lock: RunLock | None = None
    ) -> None:
        self.run_dir = run_dir
        self._db = connection
        self._lock = lock

    # -- opening -----------------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = None
        try:
            db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as error:
            if db is not None:
                db.close()
            raise StoreError(f"{path}: not a readable ARES run store ({error})") from None
        return db

    @classmethod
    def create(cls, run_dir: str | Path, config: dict[str, Any]) -> RunStore:
        """Create a new run folder and its store, holding the run lock until :meth:`close`.

        Refuses a folder that already holds a run. A create that fails removes what it made
        (store files, lock file, folders) and nothing that was there before.
        """
        run_dir = Path(run_dir)
        db_path = run_dir / DB_NAME
        if db_path.exists():
            raise StoreError(f"{run_dir}: already holds a run store; use --resume to continue it")
        made = make_run_dir(run_dir)
        lock = RunLock(run_dir)
        lock_existed = lock.path.exists()
        db = None
        try:
            lock.acquire()
            if db_path.exists():  # another process created the run while we waited for the lock
                raise StoreError(
                    f"{run_dir}: already holds a run store; use --resume to continue it"
                )
            db = cls._connect(db_path)
            store = cls(run_dir, db, lock)
            with store.transaction():
                # executescript() would commit on its own, so the schema runs statement by statement.
                for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                db.execute("INSERT INTO meta VALUES ('created_at', ?)", (str(time.time()),))
                db.execute(
                    "INSERT INTO meta VALUES ('config', ?)",
                    (json.dumps(config, ensure_ascii=False),),
                )
        except BaseException as error:
            if db is not None:
                db.close()
            if lock.held:
                remove_store_files(db_path)
                lock.release()
                if not lock_existed:
                    lock.path.unlink(missing_ok=True)
            remove_empty_dirs(made)
            if isinstance(error, sqlite3.Error):
                raise StoreError(f"{db_path}: cannot create the run store ({error})") from None
            raise
        return store

    @classmethod
    def open(cls, run_dir: str | Path, *, writer: bool = False) -> RunStore:
        """Reopen an existing run; refuses a store written by a newer ARES (higher schema version).

        ``writer=True`` takes the run lock (held until :meth:`close`): a second writer is refused
        with a ``StoreError`` naming the holder. Readers take no lock.
        """
        run_dir = Path(run_dir)
        db_path = run_dir / DB_NAME
        if not db_path.is_file():
            raise StoreError(f"{run_dir}: not an ARES run folder (no {DB_NAME})")
        header_problem = sqlite_header_problem(db_path)  # before SQLite may write to the file
        if header_problem is not None:
            raise StoreError(f"{db_path}: {header_problem}")
        lock = RunLock(run_dir).acquire() if writer else None
        try:
            db = cls._connect(db_path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            problem = None
            if row is None:
                problem = "has no schema version; not an ARES run store"
            elif not str(row["value"]).strip().isdigit():
                problem = (
                    f"schema version {row['value']!r} is not a whole number; not an ARES run store"
                )
            elif int(row["value"]) > SCHEMA_VERSION:
                problem = (
                    f"schema version {int(row['value'])} is newer than this ARES supports "
                    f"({SCHEMA_VERSION}); upgrade ares-rlhf"
                )
        except sqlite3.DatabaseError as error:
            problem = f"not a readable ARES run store ({error})"
        if problem is not None:
            db.close()
            if lock is not None:
                lock.release()
            raise StoreError(f"{db_path}: {problem}")
        return cls(run_dir, db, lock)

    @property
    def db_path(self) -> Path:
        return Path(self.run_dir) / DB_NAME

    def close(self) -> None:
        """Close the database and release the run lock (if this store holds it)."""
        try:
            self._db.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # -- meta and config -----------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return int(self._meta("schema_version"))

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"{self.run_dir}: run store has no {key!r}")
        return row["value"]

    def config(self) -> dict[str, Any]:
        """The run config as stored when the run was created."""
        try:
            config = json.loads(self._meta("config"))
        except ValueError as error:
            raise StoreError(
                f"{self.db_path}: the stored run config is corrupt ({error})"
            ) from None
        if not isinstance(config, dict):
            raise StoreError(f"{self.db_path}: the stored run config is not a mapping")
        return config

    # -- probes ----------------------------------------------------------------------------------
    def add_probes(self, probes: Iterable[Probe]) -> int:
        """Write probes in one transaction; returns how many were written."""
        rows = [_probe_row(p) for p in probes]
        if not rows:
            return 0
        placeholders = ", ".join("?" for _ in _PROBE_COLUMNS)
        with self.transaction() as db:
            db.executemany(
                f"INSERT INTO probes ({', '.join(_PROBE_COLUMNS)}) VALUES ({placeholders})", rows
            )
        return len(rows)

    def add_probes_and_state(self, probes: Iterable[Probe], state: dict[str, Any]) -> int:
        """Write a batch of probes and resumable state together (one transaction)."""
        rows = [_probe_row(p) for p in probes]
        placeholders = ", ".join("?" for _ in _PROBE_COLUMNS)
        with self.transaction() as db:
            if rows:
                db.executemany(
                    f"INSERT INTO probes ({', '.join(_PROBE_COLUMNS)}) VALUES ({placeholders})",
                    rows,
                )
            for key, value in state.items():
                db.execute(
                    "INSERT INTO state VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                    (key, json.dumps(value), time.time()),
                )
        return len(rows)

    def probes(self, phase: str | None = "discovery") -> list[Probe]:
        """Probes in write order; ``phase=None`` returns every phase."""
        return list(self.iter_probes(phase))

    def iter_probes(self, phase: str | None = "discovery") -> Iterator[Probe]:
        if phase is None:
            cursor = self._db.execute("SELECT * FROM probes ORDER BY seq")
        else:
            cursor = self._db.execute("SELECT * FROM probes WHERE phase=? ORDER BY seq", (phase,))
        for row in cursor:
            try:
                probe = _row_probe(row)
            except (ValueError, TypeError, KeyError) as error:
                raise StoreError(
                    f"{self.db_path}: probe row {row['seq']} is corrupt ({error}); "
                    "nothing was changed"
                ) from None
            yield probe

    def count_probes(self, phase: str | None = "discovery") -> int:
        if phase is None:
            return self._db.execute("SELECT COUNT(*) FROM probes").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM probes WHERE phase=?", (phase,)).fetchone()[0]

    def failure_counts(self, phase: str = "discovery") -> dict[str, int]:
        counts = {ft.value: 0 for ft in FailureType}
        for row in self._db.execute(
            "SELECT failure_type, COUNT(*) AS n FROM probes WHERE phase=? GROUP BY failure_type",
            (phase,),
        ):
            counts[row["failure_type"]] = row["n"]
        return counts

    def phases(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT phase FROM probes ORDER BY phase")]

    # -- state -----------------------------------------------------------------------------------
    def set_state(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO state VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                (key, json.dumps(value), time.time()),
            )

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row["value"])
        except ValueError as error:
            raise StoreError(f"{self.db_path}: stored state {key!r} is corrupt ({error})") from None

    # -- artifacts -------------------------------------------------------------------------------
    def add_artifact(self, artifact: Artifact) -> Artifact:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO artifacts (kind, path, data, created_at) VALUES (?, ?, ?, ?)",
                (
                    artifact.kind,
                    artifact.path,
                    json.dumps(artifact.data, ensure_ascii=False),
                    artifact.created_at,
                ),
            )
            artifact.id = cursor.lastrowid
        return artifact

    def artifacts(self, kind: str | None = None) -> list[Artifact]:
        if kind is None:
            rows = self._db.execute("SELECT * FROM artifacts ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM artifacts WHERE kind=? ORDER BY id", (kind,))
        found = []
        for r in rows:
            try:
                found.append(
                    Artifact(r["kind"], r["path"], json.loads(r["data"]), r["created_at"], r["id"])
                )
            except ValueError as error:
                raise StoreError(
                    f"{self.db_path}: artifact {r['id']} ({r['kind']}) is corrupt ({error})"
                ) from None
        return found

    def latest_artifact(self, kind: str) -> Artifact | None:
        found = self.artifacts(kind)
        return found[-1] if found else None

    # -- eval answers (the ares eval cache) ------------------------------------------------------
    def add_eval_answers(self, answers: Iterable[EvalAnswer]) -> int:
        """Write (or replace, by key) benchmark answers in one transaction; returns how many."""
        rows = [
            (
                a.system, a.policy_id, a.sampling, a.benchmark, a.item_id, a.prompt, a.answer,
                a.judge_id, None if a.judge_label is None else a.judge_label.value,
                a.judge_score, a.judge_reason, a.created_at,
            )
            for a in answers
        ]  # fmt: skip
        if not rows:
            return 0
        keys = ("system", "policy_id", "sampling", "benchmark", "item_id")
        updates = ", ".join(f"{c}=excluded.{c}" for c in _EVAL_ANSWER_COLUMNS if c not in keys)
        with self.transaction() as db:
            db.execute(_EVAL_ANSWERS_TABLE)
            db.executemany(
                f"INSERT INTO eval_answers ({', '.join(_EVAL_ANSWER_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _EVAL_ANSWER_COLUMNS)}) "
                f"ON CONFLICT({', '.join(keys)}) DO UPDATE SET {updates}",
                rows,
            )
        return len(rows)

    def eval_answers(
        self,
        system: str | None = None,
        policy_id: str | None = None,
        sampling: str | None = None,
        benchmark: str | None = None,
    ) -> list[EvalAnswer]:
        """Stored benchmark answers matching every filter given (all of them by default)."""
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='eval_answers'"
        ).fetchone()
        if exists is None:  # a store from before the table existed, never evaluated
            return []
        filters = {
            "system": system,
            "policy_id": policy_id,
            "sampling": sampling,
            "benchmark": benchmark,
        }
        given = {k: v for k, v in filters.items() if v is not None}
        where = " AND ".join(f"{k}=?" for k in given) or "1"
        rows = self._db.execute(
            f"SELECT * FROM eval_answers WHERE {where} ORDER BY benchmark, item_id",
            tuple(given.values()),
        )
        return [
            EvalAnswer(
                system=r["system"],
                policy_id=r["policy_id"],
                sampling=r["sampling"],
                benchmark=r["benchmark"],
                item_id=r["item_id"],
                prompt=r["prompt"],
                answer=r["answer"],
                judge_id=r["judge_id"],
                judge_label=None if r["judge_label"] is None else JudgeLabel(r["judge_label"]),
                judge_score=r["judge_score"],
                judge_reason=r["judge_reason"],
                created_at=r["created_at"],
            )
            for r in rows
        ]
