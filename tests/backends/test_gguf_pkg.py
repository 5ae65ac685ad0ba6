"""gguf-pkg: the packaged Gemma served through hf:, and the atomic cache rule (without the model)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ares_rlhf.backends import SamplingParams, create_chat_model
from ares_rlhf.backends.gguf_pkg import (
    COMPLETE_MARKER,
    build_cached,
    cache_root,
    ensure_packaged_checkpoint,
    is_complete,
)
from ares_rlhf.errors import BackendError


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARES_CACHE", str(tmp_path / "env"))
    assert cache_root(tmp_path / "opt") == tmp_path / "opt"
    assert cache_root() == tmp_path / "env"
    monkeypatch.delenv("ARES_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "ares-rlhf"


def _writer(calls: list[Path]):
    def build(tmp: Path) -> dict:
        calls.append(tmp)
        (tmp / "weights.bin").write_text("w")
        return {"note": "fake"}

    return build


def test_build_is_atomic_and_reused(tmp_path: Path) -> None:
    calls: list[Path] = []
    final = tmp_path / "cache" / "model"
    assert build_cached(final, _writer(calls)) == final
    assert is_complete(final) and (final / "weights.bin").read_text() == "w"
    assert '"note": "fake"' in (final / COMPLETE_MARKER).read_text()
    assert calls[0] != final  # built elsewhere, then renamed
    build_cached(final, _writer(calls))
    assert len(calls) == 1  # the complete build is reused
    assert not list(final.parent.glob("model.tmp-*"))


def test_half_written_cache_is_never_used(tmp_path: Path) -> None:
    final = tmp_path / "model"
    final.mkdir()
    (final / "weights.bin").write_text("truncated")  # no completion marker
    stale = tmp_path / "model.tmp-99999"
    stale.mkdir()
    (stale / "junk").write_text("x")
    calls: list[Path] = []
    build_cached(final, _writer(calls))
    assert len(calls) == 1
    assert (final / "weights.bin").read_text() == "w"
    assert not stale.exists()


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "model"

    def broken(tmp: Path) -> None:
        (tmp / "part").write_text("half")
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        build_cached(final, broken)
    assert not final.exists()
    assert not list(tmp_path.glob("model.tmp-*"))


def test_unknown_packaged_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="unknown packaged model.*gemma3-270m"):
        ensure_packaged_checkpoint("llama-7b", tmp_path)
    with pytest.raises(BackendError, match="unknown packaged model"):
        create_chat_model("gguf-pkg:nope", cache_dir=str(tmp_path))


@pytest.mark.slow
def test_packaged_gemma_generates() -> None:
    """The real packaged Gemma 3 270M (converted once into the ARES cache) answers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = create_chat_model("gguf-pkg:gemma3-270m", device="cpu", chat_format="plain")
    assert model.model_id == "gguf-pkg:gemma3-270m"
    folder = cache_root() / "gguf-pkg" / "gemma3-270m-fp32"
    assert is_complete(folder) and (folder / "model.safetensors").is_file()
    answers = model.generate(
        [[{"role": "user", "content": "What is the capital of France?"}]],
        SamplingParams(max_new_tokens=8),
    )
    assert len(answers) == 1 and answers[0].strip()
    model.close()
