"""Read a safetensors file's header without torch: tensor names, dtypes, shapes and extents.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON describing each
tensor (``dtype``, ``shape``, ``data_offsets`` relative to the data area), then the data area.
Reading the header costs a few kilobytes of I/O even for a 5 GB shard, so every shard of a
snapshot can be checked before anything heavy is loaded.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

# Bits per element of each safetensors dtype (F4 and F6 pack below a byte).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}
MAX_HEADER_BYTES = 100_000_000  # the format's own limit: anything larger is garbage


class HeaderError(ValueError):
    """The file is not a readable safetensors file; the message says why, for a person."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offsets into the data area
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class SafetensorsHeader:
    path: Path
    header_len: int
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    file_size: int

    @property
    def data_len(self) -> int:
        return max((t.end for t in self.tensors.values()), default=0)

    @property
    def expected_size(self) -> int:
        """The size the file must have: length prefix + header + every tensor's bytes."""
        return 8 + self.header_len + self.data_len

    @property
    def is_truncated(self) -> bool:
        return self.file_size < self.expected_size


def read_header(path: Path) -> SafetensorsHeader:
    """Parse ``path``'s header; raise HeaderError if it cannot be read or makes no sense.

    A file that is merely shorter than its header promises is *not* an error here: callers
    check ``is_truncated`` so they can say how much of the download arrived.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            file_size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            if len(prefix) < 8:
                raise HeaderError(f"{path.name} is empty or cut short ({file_size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > MAX_HEADER_BYTES or header_len > file_size - 8:
                raise HeaderError(f"{path.name} does not start with a safetensors header")
            raw = f.read(header_len)
    except OSError as e:
        raise HeaderError(f"{path.name} cannot be read ({e.strerror or e})") from e
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HeaderError(f"{path.name} has a damaged safetensors header") from e
    if not isinstance(header, dict):
        raise HeaderError(f"{path.name} has a damaged safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    tensors = {name: _tensor_info(path, name, entry) for name, entry in header.items()}
    return SafetensorsHeader(path, header_len, tensors, metadata, file_size)


def _tensor_info(path: Path, name: str, entry) -> TensorInfo:
    try:
        dtype = str(entry["dtype"])
        shape = tuple(int(d) for d in entry["shape"])
        begin, end = (int(o) for o in entry["data_offsets"])
    except (KeyError, TypeError, ValueError) as e:
        raise HeaderError(f"{path.name} has a damaged entry for {name}") from e
    info = TensorInfo(dtype, shape, begin, end)
    bits = DTYPE_BITS.get(dtype)
    if begin < 0 or end < begin or any(d < 0 for d in shape):
        raise HeaderError(f"{path.name} has a damaged entry for {name}")
    if bits is not None and (info.numel * bits + 7) // 8 != info.nbytes:
        raise HeaderError(f"{path.name} has a damaged entry for {name} (size does not match its shape)")
    return info
