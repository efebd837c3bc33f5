"""Numeric precision by what the hardware does natively.

bfloat16 autocast speeds up CPUs with native bfloat16 instructions (AMX-BF16 or AVX512-BF16)
and recent GPUs, and slows down every other CPU, which emulates it (about 5x slower than
float32 on an AVX2-only EPYC for PA-IB inference, measured with
``benchmarks/bench_inference.py``). :func:`choose_precision` picks bfloat16 only where it is
native, float32 elsewhere, says why, and honours an explicit request (``"bf16"`` on a CPU
without it is allowed but warned about).
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from functools import cache

import torch

from mspectmol.errors import ConfigError

log = logging.getLogger("mspectmol.models")

PRECISIONS = ("auto", "bf16", "fp32")
#: CPU flags (Linux ``/proc/cpuinfo`` names) of native bfloat16 arithmetic.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where ``/proc/cpuinfo`` does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_description() -> str:
    """CPU model, torch's vector capability and whether bfloat16 is native, in one line."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next((ln.split(":", 1)[1].strip() for ln in fh
                         if ln.startswith("model name")), name)
    except OSError:
        pass
    capability = torch.backends.cpu.get_cpu_capability()
    native = [f for f in BF16_FLAGS if f in cpu_flags()]
    return (f"{name}; torch CPU capability {capability}; native bf16: "
            f"{', '.join(native) if native else 'no'}")


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """True where bfloat16 arithmetic is native: a CUDA GPU that supports it, or a CPU with
    AMX-BF16 / AVX512-BF16 that torch uses (its capability is AVX512 or better)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    return capability.startswith("AVX512") and any(f in cpu_flags() for f in BF16_FLAGS)


@dataclass(frozen=True)
class Precision:
    """The chosen precision: ``dtype`` for autocast (None: float32) and why."""

    dtype: torch.dtype | None
    reason: str

    @property
    def name(self) -> str:
        """``"bf16"`` or ``"fp32"``."""
        return "bf16" if self.dtype is torch.bfloat16 else "fp32"


def choose_precision(device: torch.device | str = "cpu", requested: str = "auto") -> Precision:
    """bfloat16 where native (``"auto"``), or what was requested; logged.

    Raises
    ------
    ConfigError
        For an unknown ``requested`` value.
    """
    if requested not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                          f"{requested!r}")
    device = torch.device(device)
    native = native_bf16(device)
    if requested == "fp32":
        choice = Precision(None, "float32 as requested")
    elif requested == "bf16":
        choice = Precision(torch.bfloat16, "bfloat16 as requested" + (
            "" if native else f" (not native on this {device.type}: expect it to be slower "
                              "than float32)"))
        if not native:
            log.warning("precision: %s", choice.reason)
    elif native:
        choice = Precision(torch.bfloat16, f"bfloat16: native on this {device.type}")
    else:
        choice = Precision(None, f"float32: bfloat16 is not native on this {device.type}")
    log.info("precision: %s", choice.reason)
    return choice
