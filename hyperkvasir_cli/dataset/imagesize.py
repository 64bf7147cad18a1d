"""Width and height of a JPEG or PNG from its header, without decoding a pixel.

Reads forward only (a zip member stream works as well as a file) and stops at the frame
header, so a typical JPEG costs a few hundred bytes of reading however large it is.
"""

from __future__ import annotations

import struct
from typing import IO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Start-of-frame markers carry the size. C4 (DHT), C8 (JPG) and CC (DAC) share the range
# but are not frames.
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_END_OF_HEADERS = frozenset({0xD9, 0xDA})  # end of image, start of scan


def read_image_size(stream: IO[bytes]) -> tuple[int, int] | None:
    """``(width, height)`` of the JPEG or PNG at the stream's position.

    Returns None for any other format and for a header that is truncated or malformed;
    never raises for bad data (I/O errors of the stream itself propagate).
    """
    signature = stream.read(2)
    if signature == b"\xff\xd8":
        return _jpeg_size(stream)
    if signature == PNG_SIGNATURE[:2]:
        return _png_size(signature + stream.read(22))
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _jpeg_size(stream: IO[bytes]) -> tuple[int, int] | None:
    while True:
        marker = _next_marker(stream)
        if marker is None or marker in _JPEG_END_OF_HEADERS:
            return None
        if marker in _JPEG_STANDALONE:
            continue
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if length < 2:
            return None
        if marker in _JPEG_FRAME_MARKERS:
            frame = stream.read(5)  # precision, height, width
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return int(width), int(height)
        if len(stream.read(length - 2)) < length - 2:
            return None


def _next_marker(stream: IO[bytes]) -> int | None:
    """The next marker code, skipping the 0xFF fill bytes the standard allows."""
    byte = stream.read(1)
    if byte != b"\xff":
        return None
    while byte == b"\xff":
        byte = stream.read(1)
    return byte[0] if byte else None
