"""ARES search stage."""
