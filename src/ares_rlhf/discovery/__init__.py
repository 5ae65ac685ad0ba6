"""ARES discovery stage."""
