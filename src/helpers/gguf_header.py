"""Read a GGUF file's header (metadata and tensor shapes) without loading or joining its weights.

The offline models ship as GGUF files, some split into pieces across several packages. The
header sits at the start of the file, so it is read as a stream over the pieces in order: no
piece is joined to another, nothing is dequantised, and only the first few megabytes are read.
`gguf.GGUFReader` (the `gguf` package) needs the whole file memory-mapped, which a split model
does not have until it is assembled; this reader uses that package's value-type codes.

Layout (GGUF version 2 and 3, little-endian): magic ``GGUF``, version (u32), tensor count (u64),
metadata count (u64); each metadata entry is a string key, a value type (u32) and the value; then
each tensor's name, dimension count (u32), dimensions (u64 each, innermost first), type (u32) and
offset (u64).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from gguf import GGUFValueType

from .models import Shape

_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}


class _Pieces:
    """Sequential reads over files that are, in order, one byte stream."""

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self._paths: Iterator[str | os.PathLike] = iter(paths)
        self._file: BinaryIO | None = None
        self._next()

    def _next(self) -> bool:
        if self._file is not None:
            self._file.close()
        path = next(self._paths, None)
        self._file = open(path, "rb") if path is not None else None
        return self._file is not None

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self._file is not None:
            chunk = self._file.read(n - len(out))
            if chunk:
                out += chunk
            elif not self._next():
                break
        if len(out) < n:
            raise ValueError("the GGUF header ends before its declared contents: a piece is missing")
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _unpack(stream: _Pieces, fmt: str) -> Any:
    return struct.unpack(fmt, stream.read(struct.calcsize(fmt)))[0]


def _string(stream: _Pieces) -> str:
    return stream.read(_unpack(stream, "<Q")).decode("utf-8", errors="replace")


def _value(stream: _Pieces, kind: int, keep_arrays: bool) -> Any:
    kind = GGUFValueType(kind)
    if kind in _SCALARS:
        return _unpack(stream, _SCALARS[kind])
    if kind == GGUFValueType.STRING:
        return _string(stream)
    if kind == GGUFValueType.ARRAY:
        item, count = _unpack(stream, "<I"), _unpack(stream, "<Q")
        items = [_value(stream, item, keep_arrays) for _ in range(count)]
        return items if keep_arrays else len(items)  # tokenizer tables: only their length
    raise ValueError(f"unknown GGUF value type {kind}")


def read_header(paths: Sequence[str | os.PathLike], *, keep_arrays: bool = False) -> dict[str, Any]:
    """Metadata and tensor shapes of a GGUF given as its pieces in order (a list of one file is fine).

    Arrays (the tokenizer's tables) are replaced by their length unless `keep_arrays`.
    """
    stream = _Pieces(paths)
    try:
        if stream.read(4) != b"GGUF":
            raise ValueError(f"{os.fspath(paths[0])} is not a GGUF file (no GGUF magic)")
        version = _unpack(stream, "<I")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported (2 or 3 are)")
        n_tensors, n_kv = _unpack(stream, "<Q"), _unpack(stream, "<Q")
        metadata = {}
        for _ in range(n_kv):
            key = _string(stream)
            metadata[key] = _value(stream, _unpack(stream, "<I"), keep_arrays)
        tensors = {}
        for _ in range(n_tensors):
            name = _string(stream)
            dims = [_unpack(stream, "<Q") for _ in range(_unpack(stream, "<I"))]
            _unpack(stream, "<I"), _unpack(stream, "<Q")  # type and data offset: not needed
            tensors[name] = dims
    finally:
        stream.close()
    return {"version": version, "metadata": metadata, "tensors": tensors}


def header_shape(header: dict[str, Any]) -> Shape:
    """The decoder shape a GGUF header describes (vocabulary from the embedding tensor)."""
    meta = header["metadata"]
    arch = meta["general.architecture"]

    def get(key: str) -> Any:
        return meta.get(f"{arch}.{key}")

    heads = int(get("attention.head_count"))
    hidden = int(get("embedding_length"))
    head_dim = get("attention.key_length") or hidden // heads
    return Shape(int(get("block_count")), hidden, int(get("feed_forward_length")), heads,
                 int(get("attention.head_count_kv") or heads), int(head_dim),
                 int(header["tensors"]["token_embd.weight"][1]))
