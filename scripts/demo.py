"""The main job, end to end, on a clip this script encodes itself.

Encodes a short H.264 clip with B-frames, stores it in a new hubcli dataset, prints
its shape and sample_info (read from the index, no decoding), reads a strided slice
of frames with their timestamps, checks them against a plain PyAV decode of the whole
file, and writes them to .npy files.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import hubcli


def encode_clip(path: Path, frames: int = 120, width: int = 320, height: int = 180) -> Path:
    """A 5 s, 24 fps H.264 clip whose frame k shows a pattern derived from k."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"x264-params": "bframes=3:keyint=48"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        y, x = np.mgrid[0:height, 0:width]
        for k in range(frames):
            rgb = np.stack([(x + 3 * k) % 256, (y + 5 * k) % 256, (x + y + 7 * k) % 256], axis=-1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 24)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def full_decode(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.time for f in frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="where to write")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    clip = encode_clip(out / "clip.mp4")
    print(f"encoded {clip} ({clip.stat().st_size} bytes)")

    ds = hubcli.empty(out / "dataset", overwrite=True)
    ds.create_tensor("videos", htype="video", sample_compression="mp4")
    ds.videos.append(hubcli.read(clip))
    print(f"dataset: {ds}")
    print(f"ds.videos[0].shape = {ds.videos[0].shape}")
    print(f"ds.videos[0].sample_info = {ds.videos[0].sample_info}")

    view = ds.videos[0, 10:100:15]
    frames, timestamps = view.numpy(), view.timestamp
    print(f"ds.videos[0, 10:100:15].numpy().shape = {frames.shape}")
    print(f"ds.videos[0, 10:100:15].timestamp = {np.round(timestamps, 4)}")
    last = ds.videos[0, -1].numpy()

    oracle_frames, oracle_times = full_decode(clip)
    same = all(
        np.array_equal(f, oracle_frames[k]) for f, k in zip(frames, range(10, 100, 15), strict=True)
    )
    same &= np.array_equal(timestamps, np.array(oracle_times[10:100:15]))
    same &= np.array_equal(last, oracle_frames[-1])
    print(f"identical to a full PyAV decode of the file: {same}")

    np.save(out / "frames.npy", frames)
    np.save(out / "timestamps.npy", timestamps)
    print(f"wrote {out / 'frames.npy'} {frames.shape} and {out / 'timestamps.npy'}")
    if not same:
        raise SystemExit("frames differ from the reference decode")


if __name__ == "__main__":
    main()
