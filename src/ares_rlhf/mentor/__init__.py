"""ARES mentor stage."""
