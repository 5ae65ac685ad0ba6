"""The ARES component catalog (topics, personas, tactics, goals)."""

from ares_rlhf.taxonomy.catalog import BUILTIN, Catalog, Component, load_catalog

__all__ = ["BUILTIN", "Catalog", "Component", "load_catalog"]
