"""ARES embedded stage."""
