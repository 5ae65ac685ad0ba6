"""The run store: SQLite per run folder, plus exports."""

from ares_rlhf.store.export import export_jsonl, export_parquet, to_dataset
from ares_rlhf.store.sqlite import DB_NAME, SCHEMA_VERSION, RunStore

__all__ = ["DB_NAME", "SCHEMA_VERSION", "RunStore", "export_jsonl", "export_parquet", "to_dataset"]
