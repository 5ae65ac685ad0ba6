"""ARES report stage."""
