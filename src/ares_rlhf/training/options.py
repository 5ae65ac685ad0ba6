"""TRL trainer configs built from ARES settings plus a user's ``trainer_options``."""

from __future__ import annotations

from typing import Any

from ares_rlhf.errors import ConfigError


def trl_config(config_class: type, section: str, arguments: dict[str, Any]) -> Any:
    """``config_class(**arguments)``; an argument TRL does not know (a typo in a config's
    ``SECTION.trainer_options``) or rejects becomes a one-line :class:`ConfigError`."""
    try:
        return config_class(**arguments)
    except TypeError as error:
        raise ConfigError(
            f"{section}.trainer_options: {config_class.__name__} rejected them ({error})"
        ) from None
    except ValueError as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ConfigError(f"{section}.trainer_options: {config_class.__name__}: {first}") from None
