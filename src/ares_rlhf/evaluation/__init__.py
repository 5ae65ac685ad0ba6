"""ARES evaluation stage."""
