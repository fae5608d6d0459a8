"""The one frame hash of the tests, the benchmark and the benchmark's peers.

It imports only numpy and the standard library: the peers' process (``.bench-venv``,
TorchCodec and decord) imports it too, and has neither PyAV nor hubcli. Hashes made in
either process are therefore comparable.
"""

from __future__ import annotations

import hashlib

import numpy as np


def frame_hash(frame: np.ndarray) -> str:
    """The first 32 hex digits (128 bits) of the SHA-256 of the frame's bytes in C order,
    then its shape: equal hashes mean the same pixels in the same layout.

    128 bits because the benchmark compares hundreds of thousands of frames; the shape
    because the same bytes under another shape (a transposed frame) are another frame.
    """
    data = np.ascontiguousarray(frame).tobytes()
    return hashlib.sha256(data).hexdigest()[:32] + str(tuple(frame.shape))
