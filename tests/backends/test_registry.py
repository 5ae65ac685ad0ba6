"""Every scheme module that exists registers its scheme (new backends are picked up automatically)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from ares_rlhf.backends import base, create_chat_model, known_schemes
from ares_rlhf.errors import BackendError


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


PRESENT = sorted(
    scheme for scheme, module in base._SCHEME_MODULES.items() if _module_exists(module)
)


def test_the_core_backends_are_present() -> None:
    assert {"hf", "openai", "scripted"} <= set(PRESENT)


@pytest.mark.parametrize("scheme", PRESENT)
def test_scheme_module_registers_its_scheme(scheme: str) -> None:
    importlib.import_module(base._SCHEME_MODULES[scheme])
    assert scheme in base._CHAT or scheme in base._REWARD
    assert scheme in known_schemes()


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(BackendError, match="known: .*hf.*openai"):
        create_chat_model("nosuchscheme:x")
    with pytest.raises(BackendError, match="SCHEME:TARGET"):
        create_chat_model("no-colon")
