"""Arrow arrays built from buffers, never from Python lists through ``pa.array``.

Why: ``pa.array(list)`` first asks whether the list is a pandas object, which imports
pandas (and numpy) when they are installed: about 50 MB of resident memory and a third
of a second, for nothing a shard needs. Building the few types a shard holds (strings,
32-bit integers, binary read from files) from their buffers costs their bytes only.

Arrow's layout: a validity bitmap (bit ``i`` set when value ``i`` is present, least
significant bit first; absent when nothing is null), 32-bit offsets (``n + 1`` of them)
and the values' bytes, all in native byte order.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import IO, Any, Literal

from hyperkvasir_cli.core.errors import ArchiveError
from hyperkvasir_cli.dataset.sources import FileReader

INT32 = next(code for code in "ilh" if array(code).itemsize == 4)
BINARY_LIMIT = 2**31 - 1  # the binary and string types count bytes with 32-bit offsets
READ_ON = 64 * 1024  # more room for a file that turns out larger than listed


def validity(pa: Any, present: Sequence[bool] | bytes | bytearray) -> tuple[Any, int]:
    """The validity bitmap (None when every value is present) and the null count."""
    nulls = len(present) - sum(map(bool, present))
    if not nulls:
        return None, 0
    bits = bytearray((len(present) + 7) // 8)
    for i, ok in enumerate(present):
        if ok:
            bits[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(bits), nulls


def offsets_buffer(pa: Any, lengths: Sequence[int]) -> Any:
    ends = array(INT32, [0])
    ends.extend(accumulate(lengths))
    return pa.py_buffer(ends)


def number_array(pa: Any, kind: Any, values: array[Any], present: bytes | None = None) -> Any:
    """An array of ``kind`` (int32, int64, float64) whose values are ``values``'s items
    (same width); ``present`` marks the values that are not null (default: all)."""
    bitmap, nulls = (None, 0) if present is None else validity(pa, present)
    data = pa.py_buffer(values)
    return pa.Array.from_buffers(kind, len(values), [bitmap, data], null_count=nulls)


def int32_array(pa: Any, values: Sequence[int]) -> Any:
    return number_array(pa, pa.int32(), array(INT32, values))


class ColumnValues:
    """The values of one column of a row group, None allowed, held compactly: a number
    takes its 8 bytes in an ``array``, not a Python object and a list slot (32 bytes)."""

    def __init__(self, kind: Literal["string", "float", "int"]) -> None:
        self.kind = kind
        self._numbers: array[Any] = array("d" if kind == "float" else "q")
        self._texts: list[str | None] = []
        self._present = bytearray()

    def __len__(self) -> int:
        return len(self._texts) if self.kind == "string" else len(self._present)

    def append(self, value: str | float | int | None) -> None:
        if self.kind == "string":
            self._texts.append(value if value is None else str(value))
        elif value is None:
            self._numbers.append(0)
            self._present.append(0)
        else:
            self._numbers.append(value)
            self._present.append(1)

    def finish(self, pa: Any) -> Any:
        """The arrow array of the values (string, float64 or int64)."""
        if self.kind == "string":
            return string_array(pa, self._texts)
        kind = pa.float64() if self.kind == "float" else pa.int64()
        return number_array(pa, kind, self._numbers, bytes(self._present))


def string_array(pa: Any, values: Sequence[str | None]) -> Any:
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    if sum(map(len, encoded)) > BINARY_LIMIT:
        raise ArchiveError("a Parquet row group's text exceeds 2 GiB")
    bitmap, nulls = validity(pa, [v is not None for v in values])
    lengths = offsets_buffer(pa, [len(e) for e in encoded])
    buffers = [bitmap, lengths, pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers, null_count=nulls)


def list_array(pa: Any, kind: Any, lengths: Sequence[int], values: Any) -> Any:
    """A ``list`` array of ``kind`` whose row ``i`` holds the next ``lengths[i]`` values."""
    offsets = pa.Array.from_buffers(
        pa.int32(), len(lengths) + 1, [None, offsets_buffer(pa, lengths)], null_count=0
    )
    return pa.ListArray.from_arrays(offsets, values, type=kind)


def _read_into(stream: IO[bytes], view: memoryview) -> int:
    """``readinto`` where the stream has it (files, zip members, ranged members)."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


class BinaryColumn:
    """A ``binary`` array built from files: their bytes read straight into one buffer.

    The buffer is sized from the listing, so a row group's images are in memory once,
    never as Python ``bytes``. It comes from the system allocator: a buffer this large is
    its own mapping, given back to the system when freed, where arrow's default pool
    (mimalloc) keeps freed memory a while and the next row group's buffer, a little
    larger, does not fit in it. A file larger than listed grows the buffer (one copy).
    """

    def __init__(self, pa: Any, capacity: int) -> None:
        self._pa = pa
        self._buffer = self._allocate(capacity)
        self._view = memoryview(self._buffer).cast("B")
        self._lengths: list[int] = []
        self._present: list[bool] = []
        self._used = 0

    def _allocate(self, size: int) -> Any:
        return self._pa.allocate_buffer(max(1, size), memory_pool=self._pa.system_memory_pool())

    def _reserve(self, extra: int) -> None:
        needed = self._used + extra
        if needed <= len(self._view):
            return
        if needed > BINARY_LIMIT:
            raise ArchiveError("a Parquet row group's files exceed 2 GiB")
        larger = self._allocate(min(BINARY_LIMIT, max(needed, len(self._view) * 3 // 2)))
        view = memoryview(larger).cast("B")
        view[: self._used] = self._view[: self._used]
        self._view.release()
        self._buffer, self._view = larger, view

    def append_file(self, reader: FileReader, path: str, size: int) -> str:
        """Read the file at ``path`` (``size`` bytes, as listed) to its end; its sha256."""
        start = self._used
        with reader.open(path) as stream:
            wanted = size
            while True:
                if wanted:
                    self._reserve(wanted)
                    got = _read_into(stream, self._view[self._used : self._used + wanted])
                    if not got:
                        break
                    self._used += got
                    wanted -= got
                    continue
                extra = stream.read(1)  # the end, as listed, or a file that grew
                if not extra:
                    break
                self._reserve(1)
                self._view[self._used] = extra[0]
                self._used += 1
                wanted = READ_ON
        self._lengths.append(self._used - start)
        self._present.append(True)
        return hashlib.sha256(self._view[start : self._used]).hexdigest()

    def append_null(self) -> None:
        self._lengths.append(0)
        self._present.append(False)

    def finish(self) -> Any:
        """The arrow array (it keeps the buffer); the builder is not used afterwards."""
        pa = self._pa
        bitmap, nulls = validity(pa, self._present)
        offsets = offsets_buffer(pa, self._lengths)
        data = self._buffer.slice(0, self._used)
        self._view.release()
        return pa.Array.from_buffers(
            pa.binary(), len(self._lengths), [bitmap, offsets, data], null_count=nulls
        )
