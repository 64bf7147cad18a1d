"""Frames, frame rate, duration and size of a video from its container header.

Only AVI carries these in a fixed header (the `avih` main header, and for files over
1 GiB the OpenDML `dmlh` total frame count); everything else reports "unknown". Only the
first :data:`HEADER_BYTES` bytes are read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Literal

HEADER_BYTES = 16 * 1024

Container = Literal["avi", "unknown"]


@dataclass(frozen=True)
class VideoInfo:
    container: Container
    frames: int | None = None
    fps: float | None = None
    seconds: float | None = None
    width: int | None = None
    height: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "container": self.container,
            "frames": self.frames,
            "fps": self.fps,
            "seconds": self.seconds,
            "width": self.width,
            "height": self.height,
        }


UNKNOWN_VIDEO = VideoInfo("unknown")


def read_video_info(stream: IO[bytes]) -> VideoInfo:
    """What the header at the stream's position says; :data:`UNKNOWN_VIDEO` when it says nothing."""
    return parse_video_header(stream.read(HEADER_BYTES))


def parse_video_header(head: bytes) -> VideoInfo:
    """Parse the first bytes of a file; never raises for bad or foreign data."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return UNKNOWN_VIDEO
    hdrl = _find_list(head, 12, len(head), b"hdrl")
    if hdrl is None:
        return UNKNOWN_VIDEO
    avih = _find_chunk(head, hdrl[0], hdrl[1], b"avih")
    if avih is None or avih[1] - avih[0] < 40:
        return UNKNOWN_VIDEO
    micro_per_frame, _, _, _, frames, _, _, _, width, height = struct.unpack_from(
        "<10I", head, avih[0]
    )
    odml = _find_list(head, hdrl[0], hdrl[1], b"odml")
    dmlh = _find_chunk(head, odml[0], odml[1], b"dmlh") if odml else None
    if dmlh is not None and dmlh[1] - dmlh[0] >= 4:
        # avih counts only the first RIFF of an OpenDML file; dmlh counts them all.
        frames = max(frames, struct.unpack_from("<I", head, dmlh[0])[0])
    fps = round(1_000_000 / micro_per_frame, 3) if micro_per_frame else None
    # The header holds whole microseconds per frame (33,333 for 30 fps): frames / fps
    # gives the duration the rate stands for, as the published video metadata does.
    seconds = round(frames / fps, 3) if fps else None
    return VideoInfo("avi", frames, fps, seconds, width or None, height or None)


def _chunks(head: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """``(id, data_start, data_end)`` of the RIFF chunks in ``head[start:end]``, as far as read."""
    found = []
    offset = start
    while offset + 8 <= end:
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        data_start = offset + 8
        found.append((chunk_id, data_start, min(data_start + size, end)))
        offset = data_start + size + (size & 1)  # chunks are padded to even sizes
    return found


def _find_chunk(head: bytes, start: int, end: int, wanted: bytes) -> tuple[int, int] | None:
    for chunk_id, data_start, data_end in _chunks(head, start, end):
        if chunk_id == wanted:
            return data_start, data_end
    return None


def _find_list(head: bytes, start: int, end: int, list_type: bytes) -> tuple[int, int] | None:
    """The body (after the list type) of the first ``LIST <list_type>`` in the range."""
    for chunk_id, data_start, data_end in _chunks(head, start, end):
        if chunk_id == b"LIST" and head[data_start : data_start + 4] == list_type:
            return data_start + 4, data_end
    return None
