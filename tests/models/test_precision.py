"""Precision by capability: bfloat16 only where the hardware has it."""

from __future__ import annotations

import pytest
import torch

from mspectmol.errors import ConfigError
from mspectmol.models import precision


@pytest.mark.parametrize(("capability", "flags", "native"), [
    ("AVX2", {"avx2", "fma"}, False),
    ("AVX512", {"avx512f", "avx512bw"}, False),
    ("AVX512", {"avx512f", "avx512_bf16"}, True),
    ("AVX512", {"amx_bf16", "amx_tile"}, True),
    ("AVX2", {"avx512_bf16"}, False),  # torch told to stay at AVX2: no bf16 kernels
])
def test_native_bf16_follows_flags_and_torch_capability(monkeypatch, capability, flags, native):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.native_bf16("cpu") is native
    chosen = precision.choose_precision("cpu")
    assert chosen.name == ("bf16" if native else "fp32")
    assert precision.choose_precision("cpu", "fp32").dtype is None


def test_requested_bf16_without_native_support_is_warned(monkeypatch, caplog):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    chosen = precision.choose_precision("cpu", "bf16")
    assert chosen.dtype is torch.bfloat16 and "slower" in chosen.reason
    assert any("slower" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="precision must be one of"):
        precision.choose_precision("cpu", "fp16")


def test_description_names_the_capability():
    text = precision.cpu_description()
    assert "torch CPU capability" in text and "native bf16" in text
