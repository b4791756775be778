"""Pick the device and compute dtype: CUDA, Apple MPS or CPU, overridable."""

import torch

from inference.errors import SeesayError

DEVICES = ("auto", "cuda", "mps", "cpu")


def choose_device(preference: str = "auto") -> torch.device:
    if preference not in DEVICES:
        raise SeesayError(f"Unknown device {preference!r}: choose one of {', '.join(DEVICES)}.")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise SeesayError("CUDA was chosen, but no NVIDIA GPU is usable here. Choose 'auto' or 'cpu' in Settings.")
    if preference == "mps" and not torch.backends.mps.is_available():
        raise SeesayError("Apple GPU (MPS) was chosen, but it is not available here. Choose 'auto' or 'cpu'.")
    return torch.device(preference)


def choose_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 everywhere it is usable: Gemma's activations overflow float16, and float32
    doubles the memory of everything left unquantized. On CPU, bf16 is also what quanto's
    int8 kernel (torch._weight_int8pack_mm) and torch's int4 CPU matmul take."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float32
    return torch.bfloat16


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_memory_bytes(device: torch.device) -> int:
    """Peak accelerator memory since the last reset, or the process's resident memory on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    if device.type == "mps":
        return int(torch.mps.driver_allocated_memory())
    import psutil

    return int(psutil.Process().memory_info().rss)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
