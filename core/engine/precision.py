"""Which arithmetic the matmuls run in, and why.

bf16 here means autocast: the Linear layers multiply in bfloat16 while the
weights, their gradients, Adam's moments and the loss stay float32 (the
output tanh is taken in fp32, core/nn/models.py FloatTanh, and autocast's
own rules keep mse_loss in fp32). So the
optimizer sees the same kind of numbers as in fp32, only the products are
rounder; measured on the default run, the final test MSE moved by less
than the tolerance the issue set (docs/performance.md, "Precision").

"auto" picks bf16 only where the hardware multiplies bf16 natively:
- CPUs with AVX512-BF16 or AMX-BF16 (read from the CPU's flags), where the
  model's GEMMs run about 4x faster than fp32; elsewhere a CPU emulates
  bf16 and is slower than fp32;
- CUDA devices with bf16 tensor cores (Ampere and later), which also get
  TF32 for whatever still multiplies in fp32.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

import torch

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names, best first


@lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is not there."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """(whether `device` multiplies bf16 natively, the reason in a few words)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"{name} has bf16 tensor cores"
        return False, f"{name} has no bf16 tensor cores"
    if device.type == "cpu":
        have = [f for f in CPU_BF16_FLAGS if f in cpu_flags()]
        if have:
            return True, f"this CPU has {' and '.join(f.upper().replace('_', '-') for f in have)}"
        return False, "this CPU has neither AVX512-BF16 nor AMX-BF16 (bf16 would be emulated)"
    return False, f"bf16 is not chosen automatically on {device.type}"


def resolve(requested: str, device: torch.device) -> tuple[str, str]:
    """("fp32" or "bf16", why) for a config's precision on `device`."""
    if requested != "auto":
        return requested, "asked for"
    native, why = native_bf16(device)
    return ("bf16", f"auto: {why}") if native else ("fp32", f"auto: {why}")


def autocast(precision: str, device: torch.device):
    """The context the forward pass and loss run in."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def allow_tf32(device: torch.device) -> bool:
    """Let fp32 matmuls use TF32 on GPUs that have it (Ampere and later); True if so."""
    if device.type != "cuda" or torch.cuda.get_device_capability(device) < (8, 0):
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True
