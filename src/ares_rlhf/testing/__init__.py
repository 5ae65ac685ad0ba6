"""Helpers to build tiny local models (for tests and smoke runs; no hub access needed)."""
