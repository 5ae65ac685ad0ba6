"""ARES judges stage."""
