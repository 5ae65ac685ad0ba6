import platform

import pytest

from ares_rlhf import runtime


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", None)


def test_tune_allocator_applies_on_glibc_and_is_idempotent(monkeypatch):
    monkeypatch.delenv(runtime.DISABLE_VARIABLE, raising=False)
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert runtime.tune_allocator() is expected
    assert runtime.tune_allocator() is expected


def test_tune_allocator_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(runtime.DISABLE_VARIABLE, "1")
    assert runtime.tune_allocator() is False


def test_cli_entry_tunes_the_allocator(monkeypatch):
    from ares_rlhf import cli

    calls = []
    monkeypatch.setattr(cli, "tune_allocator", lambda: calls.append(True))
    with pytest.raises(SystemExit):
        cli.main(["config", "--help"])
    assert calls


def test_ares_cpu_dtype_overrides_the_cpu_probe(monkeypatch) -> None:
    from ares_rlhf.errors import ConfigError
    from ares_rlhf.runtime import best_cpu_dtype, cpu_has_native_bf16

    monkeypatch.delenv("ARES_CPU_DTYPE", raising=False)
    assert best_cpu_dtype() == ("bfloat16" if cpu_has_native_bf16() else "float32")
    for chosen in ("float32", "bfloat16"):
        monkeypatch.setenv("ARES_CPU_DTYPE", chosen)
        assert best_cpu_dtype() == chosen
    monkeypatch.setenv("ARES_CPU_DTYPE", "fp16")
    with pytest.raises(ConfigError, match="ARES_CPU_DTYPE='fp16'"):
        best_cpu_dtype()
