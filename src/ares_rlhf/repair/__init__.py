"""ARES repair stage."""
