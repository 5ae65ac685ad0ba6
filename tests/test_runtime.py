import platform
import subprocess
import sys
import textwrap

import pytest

from ares_rlhf import runtime

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


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


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's")
def test_release_free_memory_returns_what_the_tuned_allocator_keeps() -> None:
    """With the tuned thresholds a freed 256 MB block stays resident until it is released."""
    script = textwrap.dedent(
        """
        import ctypes, psutil
        from ares_rlhf import runtime
        assert runtime.tune_allocator()
        rss = lambda: psutil.Process().memory_info().rss / 2**20
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        keep = libc.malloc(1 << 20)  # a live block above the big one keeps the heap's top
        size = 256 << 20
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        above = libc.malloc(1 << 20)
        ctypes.memset(above, 1, 1 << 20)
        touched = rss()
        libc.free(block)
        kept = rss()
        released = runtime.release_free_memory()
        print(touched, kept, rss(), released)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    touched, kept, after, released = done.stdout.split()
    assert float(kept) > float(touched) - 64  # freed, but still resident
    assert float(after) < float(kept) - 192 and released == "True"  # handed back
