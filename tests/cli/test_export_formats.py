"""``hubcli export`` writes what the output's name says: .npy, PNG/JPEG images (one file a
frame into a folder or a pattern), .mp4/.mkv/.webm clips (exact re-encode, or --copy of
whole GOPs), resized in the decoding pass with --size. Every picture is checked against
an independent PyAV decode of the source file (tests/media.py)."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from typer.testing import CliRunner

import hubcli
from hubcli.cli import app
from support.media import decode_some, frame_hash

#: A clip's decode of a frame vs the source frame: "the same picture", lossy encoding.
MIN_PSNR = 35.0
#: Matroska and WebM count time in milliseconds.
MKV_TICK = 1e-3

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0 and result.exception is None, (result.stderr, result.exception)
    return result


def assert_error(result, needle):
    """Exit 1, a SystemExit (not a crash), nothing on stdout, one line on stderr."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr, result.stderr


@pytest.fixture(scope="module")
def ds_root(tmp_path_factory, corpus):
    """'videos' (mp4): h264_bframes, hevc; 'odd' (mkv): odd_444 (97x55), h264_open_gop, av1."""
    root = tmp_path_factory.mktemp("export_formats") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    ds.create_tensor("odd", sample_compression="mkv")
    ds.odd.extend([str(corpus["odd_444"]), str(corpus["h264_open_gop"]), str(corpus["av1"])])
    return root


@pytest.fixture
def src(corpus, oracle):
    """The source file and oracle decode of ``videos[i]``."""
    names = ["h264_bframes", "hevc"]
    return lambda i: (corpus[names[i]], oracle(corpus[names[i]]))


def decode_file(path):
    """Every frame of an image or video file (PyAV alone), with its time in seconds."""
    with av.open(str(path)) as container:
        frames = [(f.to_ndarray(format="rgb24"), f.time) for f in container.decode(video=0)]
    return [f for f, _ in frames], np.array([t for _, t in frames], dtype=np.float64)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


# --- images -------------------------------------------------------------------------------


def test_png_frames_into_a_folder_are_exact(ds_root, src, tmp_path):
    _, expected = src(0)
    out = tmp_path / "frames"
    result = ok(invoke("export", ds_root, "videos[0, 50:10:-7]", "-o", f"{out}/", "--format",
                       "png", "--json"))  # fmt: skip
    doc = json.loads(result.stdout)
    wanted = list(range(60))[50:10:-7]
    names = [f"{k:05d}.png" for k in wanted]
    assert doc["format"] == "png"
    assert doc["files"] == [
        {
            "index": 0,
            "path": f"{out}/%05d.png",
            "shape": [len(wanted), 64, 96, 3],
            "timestamps": None,
            "paths": [f"{out}/{name}" for name in names],
        }
    ]
    assert listing(out) == sorted(names)  # nothing else: no temporary file left
    for k, name in zip(wanted, names, strict=True):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        (picture,), _ = decode_file(out / name)
        assert frame_hash(picture) == expected.hashes()[k], name


def test_png_pattern_repeats_and_a_single_image(ds_root, src, tmp_path):
    _, expected = src(1)
    ok(invoke("export", ds_root, "videos[1, [3, -59, 3]]", "-o", tmp_path / "f" / "img%03d.png"))
    assert listing(tmp_path / "f") == ["img001.png", "img003.png"]  # frame 3 written once
    for k in (1, 3):
        (picture,), _ = decode_file(tmp_path / "f" / f"img{k:03d}.png")
        assert frame_hash(picture) == expected.hashes()[k]
    result = ok(invoke("export", ds_root, "videos[1, -1]", "-o", tmp_path / "last.png", "--json"))
    entry = json.loads(result.stdout)["files"][0]
    assert entry["shape"] == [64, 96, 3] and "paths" not in entry
    (picture,), _ = decode_file(tmp_path / "last.png")
    assert frame_hash(picture) == expected.hashes()[-1]


def test_jpeg_quality(ds_root, src, tmp_path):
    _, expected = src(0)
    frame = expected.frames[20]
    sizes, scores = {}, {}
    for quality in (20, 90, 100):
        out = tmp_path / f"q{quality}.jpg"
        ok(invoke("export", ds_root, "videos[0, 20]", "-o", out, "--quality", quality))
        assert out.read_bytes()[:2] == b"\xff\xd8"
        (picture,), _ = decode_file(out)
        sizes[quality], scores[quality] = out.stat().st_size, psnr(picture, frame)
    assert sizes[20] < sizes[90] < sizes[100]
    assert scores[20] < scores[90] < scores[100]
    assert scores[90] > 30
    ok(invoke("export", ds_root, "videos[0, 20]", "-o", tmp_path / "default.jpeg"))
    assert (tmp_path / "default.jpeg").read_bytes() == (tmp_path / "q90.jpg").read_bytes()


def test_images_with_timestamps(ds_root, src, tmp_path):
    _, expected = src(0)
    ok(invoke("export", ds_root, "videos[0, 4:9]", "-o", f"{tmp_path}/f/", "--format", "jpg",
              "--timestamps", tmp_path / "ts.npy"))  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp_path / "ts.npy"), expected.timestamps[4:9])
    assert listing(tmp_path / "f") == [f"{k:05d}.jpg" for k in range(4, 9)]


# --- clips --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ext", "codec"), [("mp4", "h264"), ("mkv", "h264"), ("webm", "vp9")])
def test_clip_is_the_selection_with_its_timestamps(ds_root, src, tmp_path, ext, codec):
    _, expected = src(0)
    wanted = [2, 5, 6, 7, 20, 33, 34, 50]
    out = tmp_path / f"clip.{ext}"
    result = ok(invoke("export", ds_root, f"videos[0, {wanted}]", "-o", out, "--json",
                       "--timestamps", tmp_path / "ts.npy"))  # fmt: skip
    doc = json.loads(result.stdout)
    assert doc["format"] == ext and doc["files"][0]["shape"] == [len(wanted), 64, 96, 3]
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == codec
    frames, times = decode_file(out)
    assert len(frames) == len(wanted)
    sources = [expected.frames[k] for k in wanted]
    for i, frame in enumerate(frames):
        assert psnr(frame, sources[i]) > MIN_PSNR, i
        # ...and it is that frame, not a neighbour: the closest of all selected frames.
        assert int(np.argmin([np.mean((frame.astype(float) - s) ** 2) for s in sources])) == i
    source_times = expected.timestamps[wanted]
    np.testing.assert_array_equal(np.load(tmp_path / "ts.npy"), source_times)
    if ext == "mp4":
        np.testing.assert_array_equal(times, source_times)  # same time base, same pts
    else:
        np.testing.assert_allclose(times, source_times, rtol=0, atol=MKV_TICK / 2)


def test_clip_of_a_backward_selection_is_in_selection_order(ds_root, src, tmp_path):
    _, expected = src(0)
    wanted = list(range(60))[30:5:-5]
    out = tmp_path / "back.mp4"
    ok(
        invoke(
            "export", ds_root, "videos[0, 30:5:-5]", "-o", out, "--timestamps", tmp_path / "t.npy"
        )
    )
    frames, times = decode_file(out)
    assert len(frames) == len(wanted)
    sources = [expected.frames[k] for k in wanted]
    for i, frame in enumerate(frames):
        assert int(np.argmin([np.mean((frame.astype(float) - s) ** 2) for s in sources])) == i
    # A video's time only goes forward: evenly spaced from the first selected frame's time.
    step = expected.timestamps[1] - expected.timestamps[0]
    np.testing.assert_allclose(times, expected.timestamps[30] + step * np.arange(len(wanted)))
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), times)


def test_clip_of_odd_size_and_resized(ds_root, corpus, oracle, tmp_path):
    expected = oracle(corpus["odd_444"])
    ok(invoke("export", ds_root, "odd[0, :10]", "-o", tmp_path / "odd.mp4"))
    frames, _ = decode_file(tmp_path / "odd.mp4")
    assert frames[0].shape == (55, 97, 3)
    assert min(psnr(f, e) for f, e in zip(frames, expected.frames[:10], strict=True)) > MIN_PSNR
    ok(invoke("export", ds_root, "odd[0, :10]", "-o", tmp_path / "small.webm", "--size", "40x30"))
    frames, _ = decode_file(tmp_path / "small.webm")
    assert len(frames) == 10 and frames[0].shape == (30, 40, 3)


def _source_packets(path):
    """(bytes, pts, keyframe) of every video packet, decode order (PyAV's demuxer)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(bytes(p), p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]


def test_copy_takes_whole_gops_of_stored_packets(ds_root, src, tmp_path):
    path, expected = src(0)
    packets = _source_packets(path)
    order = sorted(p[1] for p in packets)  # frame k's pts is the k-th smallest
    first = order[14]
    at = {pts: n for n, (_, pts, _) in enumerate(packets)}
    keys = [n for n, p in enumerate(packets) if p[2]]
    start = max(n for n in keys if n <= at[first])
    stop = min([n for n in keys if n > max(at[t] for t in order[14:31])] + [len(packets)])
    out = tmp_path / "copy.mp4"
    result = ok(invoke("export", ds_root, "videos[0, 14:31]", "-o", out, "--copy", "--json"))
    # Not re-encoded: the clip's packets are the source's, byte for byte.
    assert [p[0] for p in _source_packets(out)] == [p[0] for p in packets[start:stop]]
    frames, times = decode_file(out)
    in_clip = [order.index(p[1]) for p in packets[start:stop]]
    held = sorted(in_clip)
    assert held[0] <= 14 and held[-1] >= 30 and held == list(range(held[0], held[-1] + 1))
    assert [frame_hash(f) for f in frames] == [expected.hashes()[k] for k in held]
    np.testing.assert_array_equal(times, expected.timestamps[held])
    assert json.loads(result.stdout)["files"][0]["shape"] == [len(held), 64, 96, 3]


@pytest.mark.parametrize(
    ("index", "name", "ext"),
    [
        (1, "h264_open_gop", "mp4"),
        (2, "av1", "mp4"),
        (2, "av1", "webm"),
        (1, "h264_open_gop", "mkv"),
    ],
)
def test_copy_reports_the_frames_it_holds(ds_root, corpus, oracle, tmp_path, index, name, ext):
    """An open GOP's leading pictures at the start cannot be decoded without the GOP
    before, and the last frame must not be cut: the clip shows exactly the frames (and
    timestamps) the export reports."""
    expected = oracle(corpus[name])
    out = tmp_path / f"copy.{ext}"
    result = ok(invoke("export", ds_root, f"odd[{index}, 14:31]", "-o", out, "--copy", "--json",
                       "--timestamps", tmp_path / "ts.npy"))  # fmt: skip
    reported = np.load(tmp_path / "ts.npy")
    frames, times = decode_file(out)
    assert json.loads(result.stdout)["files"][0]["shape"][0] == len(reported) == len(frames)
    np.testing.assert_array_equal(times, reported)  # Matroska time base: milliseconds both
    at = {t: k for k, t in enumerate(expected.times)}
    held = [at[t] for t in reported]
    assert held[0] <= 14 and held[-1] >= 30 and held == list(range(held[0], held[-1] + 1))
    assert [frame_hash(f) for f in frames] == [expected.hashes()[k] for k in held]


def test_copy_refusals(ds_root, tmp_path):
    assert_error(
        invoke("export", ds_root, "videos[0, 14:31:2]", "-o", tmp_path / "c.mp4", "--copy"),
        "--copy needs a contiguous range of frames",
    )
    assert_error(
        invoke("export", ds_root, "videos[1, 0:5]", "-o", tmp_path / "c.webm", "--copy"),
        "--copy cannot put hevc video into .webm",
    )
    assert_error(
        invoke("export", ds_root, "videos[0, 0:5]", "-o", tmp_path / "c.png", "--copy"),
        "--copy applies to clips",
    )
    assert_error(
        invoke("export", ds_root, "videos[0, 0:5]", "-o", tmp_path / "c.mkv", "--copy",
               "--size", "32x32"),
        "cannot resize",
    )  # fmt: skip
    assert listing(tmp_path) == []


# --- --size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["48x32", "160x90", "33x17"])
def test_size_resizes_in_the_decoding_pass(ds_root, src, tmp_path, size):
    path, _ = src(1)
    width, height = map(int, size.split("x"))
    wanted = [0, 7, 31, 59]
    scaled = decode_some(path, set(wanted), size=(height, width))
    expected = [scaled[k] for k in wanted]
    result = ok(invoke("export", ds_root, f"videos[1, {wanted}]", "-o", tmp_path / "f.npy",
                       "--size", size, "--json"))  # fmt: skip
    assert json.loads(result.stdout)["files"][0]["shape"] == [4, height, width, 3]
    frames = np.load(tmp_path / "f.npy")
    assert frames.shape == (4, height, width, 3)
    assert [frame_hash(f) for f in frames] == [frame_hash(f) for f in expected]
    ok(invoke("export", ds_root, "videos[1, 31]", "-o", tmp_path / "f.png", "--size", size))
    (picture,), _ = decode_file(tmp_path / "f.png")
    assert frame_hash(picture) == frame_hash(expected[2])


@pytest.mark.parametrize("size", ["0x10", "64", "axb", "20000x10", "-5x5"])
def test_bad_size(ds_root, tmp_path, size):
    assert_error(
        invoke("export", ds_root, "videos[0, 0]", "-o", tmp_path / "f.npy", "--size", size),
        "is not a picture size",
    )


# --- names: formats, folders, patterns ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("x.avi", "'.avi' is not an export format"),
        ("x", "it has no extension"),
        ("x.NPZ", "'.npz' is not an export format"),
    ],
)
def test_unknown_extension_is_an_error_never_npy(ds_root, tmp_path, name, needle):
    result = invoke("export", ds_root, "videos[0, 0]", "-o", tmp_path / name)
    assert_error(result, needle)
    for ext in (".npy", ".png", ".jpg", ".mp4", ".mkv", ".webm"):
        assert ext in result.stderr
    assert listing(tmp_path) == []


def test_format_forces_the_format(ds_root, src, tmp_path):
    _, expected = src(0)
    ok(invoke("export", ds_root, "videos[0, 3]", "-o", tmp_path / "frame.bin", "--format", "png"))
    (picture,), _ = decode_file(tmp_path / "frame.bin")
    assert frame_hash(picture) == expected.hashes()[3]


def test_several_frames_into_one_image_is_an_error(ds_root, tmp_path):
    assert_error(
        invoke("export", ds_root, "videos[0, :3]", "-o", tmp_path / "one.png"),
        f"videos[0] selects 3 frames and {tmp_path}/one.png holds one picture; write one "
        f"file a frame into a folder (-o {tmp_path}/one/) or a pattern",
    )
    assert listing(tmp_path) == []


def test_several_samples_need_a_folder_or_a_pattern(ds_root, src, tmp_path):
    assert_error(
        invoke("export", ds_root, "videos[:, 0]", "-o", tmp_path / "many.npy"),
        f"the selector names 2 samples and {tmp_path}/many.npy is a single file",
    )
    assert_error(
        invoke("export", ds_root, "videos[:, 0]", "-o", f"{tmp_path}/d/", "--timestamps",
               tmp_path / "ts.npy"),
        "--timestamps",
    )  # fmt: skip
    assert listing(tmp_path) == []  # no folder named many.npy, no d/
    (tmp_path / "existing").mkdir()
    ok(invoke("export", ds_root, "videos[:, 0]", "-o", tmp_path / "existing"))
    assert listing(tmp_path / "existing") == ["videos_0.npy", "videos_1.npy"]
    ok(invoke("export", ds_root, "videos[:, :4]", "-o", tmp_path / "clip_%d.mkv"))
    for i in (0, 1):
        frames, _ = decode_file(tmp_path / f"clip_{i}.mkv")
        assert len(frames) == 4 and psnr(frames[3], src(i)[1].frames[3]) > MIN_PSNR
    ok(invoke("export", ds_root, "videos[:, 5:7]", "-o", f"{tmp_path}/img/", "--format", "png"))
    assert listing(tmp_path / "img") == [f"videos_{i}_{k:05d}.png" for i in (0, 1) for k in (5, 6)]


def test_one_sample_into_an_existing_folder(ds_root, src, tmp_path):
    ok(invoke("export", ds_root, "videos[1, :3]", "-o", tmp_path))
    assert "videos_1.npy" in listing(tmp_path)
    frames = np.load(tmp_path / "videos_1.npy")
    assert [frame_hash(f) for f in frames] == src(1)[1].hashes()[:3]


@pytest.mark.parametrize("pattern", ["a%d%d.png", "a%s.png", "a%.png", "x%d/a.png"])
def test_bad_patterns(ds_root, tmp_path, pattern):
    result = invoke("export", ds_root, "videos[0, :2]", "-o", tmp_path / pattern)
    assert_error(result, "--output")
    assert listing(tmp_path) == []


def test_quality_only_for_jpeg(ds_root, tmp_path):
    assert_error(
        invoke("export", ds_root, "videos[0, 0]", "-o", tmp_path / "f.png", "--quality", "50"),
        "--quality applies to .jpg exports, not .png",
    )
    assert_error(
        invoke("export", ds_root, "videos[0, 0]", "-o", tmp_path / "f.jpg", "--quality", "0"),
        "--quality 0 is out of range",
    )


# --- all or nothing ---------------------------------------------------------------------------


@pytest.fixture
def damaged_ds(tmp_path, corpus):
    """Two samples; the second has a damaged packet 40."""
    root = tmp_path / "damaged"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["h264_bframes"])])
    table = ds.videos.reader().frame_table(1)
    record = ds.videos[1].record()
    chunk = next((root / "tensors" / "videos" / "chunks").iterdir())
    data = bytearray(chunk.read_bytes())
    data[record.offset + int(table.offset[40]) + 5] ^= 0x40  # offsets count from the chunk start
    chunk.write_bytes(bytes(data))
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "{out}/frames/", "--format", "png"],
        ["-o", "{out}/clip_%d.mp4"],
        ["-o", "{out}/npy/", "--timestamps", "{out}/ts/"],
    ],
)
def test_a_failed_export_writes_nothing(damaged_ds, tmp_path, args):
    out = tmp_path / "out"
    out.mkdir()
    result = invoke("export", damaged_ds, "videos[:, 30:50]", *[a.format(out=out) for a in args])
    assert_error(result, "packet 40 fails its checksum")
    assert listing(out) == []  # not even sample 0's complete files, nor the folders
