"""Choosing the compute device and the autocast dtype."""

from __future__ import annotations

import contextlib

import torch

from .errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(name: str = "auto") -> torch.device:
    """auto = CUDA, then Apple MPS, then CPU. A forced device that is missing is an InputError."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise InputError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {name!r}")
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name.startswith("cuda") and not cuda:
        raise InputError("CUDA was asked for but no CUDA GPU is usable here; choose the device cpu (or auto)", "device")
    if name == "mps" and not mps:
        raise InputError("Apple MPS was asked for but is not available here; choose the device cpu (or auto)", "device")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto = bf16 on CUDA GPUs that support it (else fp16), fp16 on MPS, fp32 on the CPU."""
    if name not in DTYPES:
        raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed precision for the model's matrix products; a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
