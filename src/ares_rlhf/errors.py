"""Errors that the CLI reports as one line with exit code 2 (no traceback)."""

from __future__ import annotations


class AresUserError(Exception):
    """A problem with the user's input (config, catalog, data, run folder): shown without traceback."""

    exit_code = 2


class ConfigError(AresUserError):
    """An invalid run configuration file."""


class CatalogError(AresUserError):
    """An invalid component catalog."""


class StoreError(AresUserError):
    """A run store that cannot be opened or used (missing, newer schema, corrupt)."""


class BackendError(AresUserError):
    """A model backend that cannot be resolved or reached."""


class DataError(AresUserError):
    """Input data (a dataset, labels file, run) that lacks what a stage needs."""
