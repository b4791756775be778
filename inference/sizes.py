"""Byte counts written for people: "3.1 GB", "512.0 MB" (decimal units, like download pages)."""

_UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB"))


def human_size(n_bytes: int | float, digits: int = 1) -> str:
    """``3_100_000_000`` -> ``"3.1 GB"``; small counts stay in bytes."""
    n = float(n_bytes)
    for scale, unit in _UNITS:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {unit}"
    return f"{int(n)} bytes"


def human_sizes(a: int, b: int) -> tuple[str, str]:
    """Both sizes, with just enough digits that different numbers never read the same."""
    for digits in (1, 2, 3):
        pair = human_size(a, digits), human_size(b, digits)
        if a == b or pair[0] != pair[1]:
            break
    return pair
