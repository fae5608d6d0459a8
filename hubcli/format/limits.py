"""Every size limit of the format, in one place (format_spec/limits.md).

A dataset is untrusted input: each size it declares is checked against these limits
(and, where it names bytes, against the bytes actually read) before anything is
allocated from it, so a few kilobytes of crafted metadata can never make a reader
allocate gigabytes, loop for hours or read past an object.
"""

from __future__ import annotations

#: Integers in manifests, segment headers and frame tables fit a signed 64-bit integer.
MAX_INT = 2**63 - 1
#: The largest version: an int64 like every number of the format (its manifest key has
#: 20 digits, so every version has a name).
MAX_VERSION = MAX_INT
#: A manifest object (JSON).
MAX_MANIFEST_BYTES = 16 << 20
#: A segment's prefix and msgpack header (``header_size``).
MAX_SEGMENT_HEADER_BYTES = 64 << 20
#: A sample record in a segment header takes at least this many bytes (its field names
#: alone take over 200), so ``count <= (header_size - 16) // MIN_SAMPLE_RECORD_BYTES``.
MIN_SAMPLE_RECORD_BYTES = 64
#: One frame table (``frames_size``).
MAX_FRAME_TABLE_BYTES = 1 << 30
#: Bytes a frame table takes per frame at least (its ``frame_packet`` column, ``<u4``).
FRAME_TABLE_BYTES_PER_FRAME = 4
#: The largest pictures: 8K UHD is 33 million pixels.
MAX_SIDE = 16384
MAX_PIXELS = 1 << 26


def max_samples(header_size: int) -> int:
    """The most samples a segment header of ``header_size`` bytes can describe."""
    return max(0, header_size - 16) // MIN_SAMPLE_RECORD_BYTES


def max_frames(frames_size: int) -> int:
    """The most frames a frame table of ``frames_size`` bytes can describe."""
    return frames_size // FRAME_TABLE_BYTES_PER_FRAME
