"""Byte counts written for people: "3.1 GB", "512.0 MB" (decimal units, like download pages)."""

_UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB"))


def human_size(n_bytes: int | float) -> str:
    """``3_100_000_000`` -> ``"3.1 GB"``; small counts stay in bytes."""
    n = float(n_bytes)
    for scale, unit in _UNITS:
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"
