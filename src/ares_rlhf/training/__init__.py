"""Training utilities shared by the stages and the embedded default (no stage imports)."""
