"""A reader written from ``format_spec/`` alone, tested against hubcli's writer.

The reader below (everything above the tests) uses only the standard library, msgpack,
numpy and PyAV, and no hubcli code. It is meant to be read as a worked example of the
format: each step names the spec section it follows. hubcli is used only to *write*
datasets (``empty``, ``create_tensor``, ``append``). The oracle is a plain PyAV decode of
the original file (``tests/media.py``).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import zlib
from pathlib import Path

import av
import msgpack
import numpy as np
import pytest

import hubcli
from media import CORPUS, frame_hash

# ---------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------

MANIFEST_KEY = re.compile(r"versions/([0-9]{20})\.json")  # layout.md §2 (always fullmatch)
FORMAT_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")  # metadata.md §2
TENSOR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")  # metadata.md §3
HEX32, HEX64 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")
HTYPES = {"video"}  # metadata.md §4
COMPRESSIONS = {"mp4", "mov", "mkv", "webm", "avi"}
KEYFRAME, DISCARD = 0x01, 0x02  # frames.md §1
COLUMNS = {  # frames.md §1: column -> (dtype, count key)
    "offset": ("<i8", "packets"),
    "size": ("<u4", "packets"),
    "pts": ("<i8", "packets"),
    "dts": ("<i8", "packets"),
    "flags": ("<u1", "packets"),
    "crc32": ("<u4", "packets"),
    "frame_packet": ("<u4", "frames"),
}
CODEC_FIELDS = {"name": str, "tag": int, "extradata": bytes, "width": int, "height": int}
CODEC_FIELDS |= {"pix_fmt": str, "bits_per_coded_sample": int, "field_order": int}
CODEC_FIELDS |= dict.fromkeys(["color_range", "colorspace", "color_primaries", "color_trc"], int)
# segments.md §4 (non-normative): FFmpeg's native "av1" decoder needs a hardware accelerator.
DECODER_PREFERENCE = {"av1": ["libdav1d", "libaom-av1", "av1"]}


class Corrupt(Exception):
    """The bytes break the specification (hubcli: CorruptDatasetError)."""


class Unsupported(Exception):
    """A format version or feature this reader does not implement (UnsupportedFormatError)."""


def check(ok: object, what: str, *, error: type[Exception] = Corrupt) -> None:
    if not ok:
        raise error(what)


def is_uint(value: object) -> bool:
    """An integer >= 0; booleans are not integers (metadata.md §1, segments.md §2)."""
    return type(value) is int and value >= 0


def read_range(root: Path, key: str, start: int, length: int) -> bytes:
    """A ranged read of exactly ``length`` bytes of object ``key`` (layout.md §2 key rules)."""
    parts = key.split("/")
    check(not key.startswith("/") and "\\" not in key and "\0" not in key, f"bad key {key!r}")
    check(all(p not in ("", ".", "..") for p in parts), f"bad key {key!r}")
    with open(root.joinpath(*parts), "rb") as f:
        f.seek(start)
        data = f.read(length)
    check(len(data) == length, f"{key}: short read at {start}")
    return data


def newest_manifest(root: Path) -> dict:
    """layout.md §3: list versions/, keep exact manifest keys, read the largest."""
    names = os.listdir(root / "versions") if (root / "versions").is_dir() else []
    versions = [int(m[1]) for n in names if (m := MANIFEST_KEY.fullmatch(f"versions/{n}"))]
    if not versions:
        raise FileNotFoundError(f"no dataset at {root}")
    key = f"versions/{max(versions):020d}.json"
    return parse_manifest((root / key).read_bytes(), max(versions), key)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    check(len(keys) == len(set(keys)), f"repeated key in {keys}")
    return dict(pairs)


def parse_manifest(data: bytes, version: int, name: str) -> dict:
    """metadata.md §5, rules M1-M8 (M1-M3 in this order). ``version`` is the key's number."""
    try:  # M1: UTF-8 (no BOM) JSON object, no repeated keys, no NaN/Infinity.
        doc = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except ValueError as e:
        raise Corrupt(f"{name}: not UTF-8 JSON: {e}") from e
    check(isinstance(doc, dict), f"{name}: not a JSON object")
    check(doc.get("format") == "hubcli", f"{name}: format is not 'hubcli'")  # M2
    fv = doc.get("format_version")  # M3
    check(isinstance(fv, str) and FORMAT_VERSION.fullmatch(fv), f"{name}: bad format_version")
    check(fv.split(".")[0] == "1", f"{name} uses format {fv}; reads 1.x", error=Unsupported)
    check(isinstance(doc.get("dataset_id"), str) and HEX32.fullmatch(doc["dataset_id"]), name)
    check(is_uint(doc.get("version")) and doc["version"] == version, f"{name}: bad version")
    check(isinstance(doc.get("created_at"), str) and isinstance(doc.get("tensors"), list), name)
    names = [t.get("name") if isinstance(t, dict) else None for t in doc["tensors"]]
    check(len(set(names)) == len(names), f"{name}: repeated tensor name")  # M5
    for t in doc["tensors"]:
        check(isinstance(t, dict) and isinstance(t["name"], str) and TENSOR_NAME.fullmatch(t["name"]), f"{name}: name")
        check(t.get("htype") in HTYPES, f"{name}: unknown htype", error=Unsupported)  # M6
        check(t.get("sample_compression") in COMPRESSIONS, f"{name}: compression", error=Unsupported)
        check(is_uint(t.get("length")) and isinstance(t.get("segments"), list), f"{name}: tensor")
        seg_key = re.compile(rf"tensors/{re.escape(t['name'])}/segments/[0-9a-f]{{32}}\.seg")
        expected = 0
        for ref in t["segments"]:  # M7 tiling, M8 reference fields
            check(isinstance(ref, dict) and ref.get("first") == expected, f"{name}: tiling")
            check(all(is_uint(ref.get(f)) for f in ("first", "count", "size", "header_size")), name)
            check(ref["count"] >= 1 and 16 <= ref["header_size"] <= ref["size"], f"{name}: ref")
            check(isinstance(ref.get("key"), str) and seg_key.fullmatch(ref["key"]), f"{name}: key")
            check(isinstance(ref.get("header_sha256"), str), f"{name}: header_sha256")
            check(HEX64.fullmatch(ref["header_sha256"]), f"{name}: header_sha256")
            expected += ref["count"]
        check(expected == t["length"], f"{name}: segments do not tile {t['name']}")
    return doc


def read_segment_header(root: Path, tensor: dict, ref: dict) -> dict:
    """segments.md §1-§3: one ranged read of [0, header_size), SHA-256 first."""
    key, size = ref["key"], ref["header_size"]
    raw = read_range(root, key, 0, size)
    check(hashlib.sha256(raw).hexdigest() == ref["header_sha256"], f"{key}: header SHA-256")
    check(raw[:8] == b"HUBCSEG1", f"{key}: magic")
    check(16 + int.from_bytes(raw[8:16], "little") == size, f"{key}: 16 + H != header_size")
    try:
        header = msgpack.unpackb(raw[16:], raw=False)  # str -> str, bin -> bytes
    except ValueError as e:
        raise Corrupt(f"{key}: header is not msgpack: {e}") from e
    check(isinstance(header, dict) and isinstance(header.get("samples"), list), f"{key}: map")
    chunks, samples = header.get("chunks"), header["samples"]
    check(isinstance(chunks, list) and len(samples) == ref["count"], f"{key}: count")
    chunk_key = re.compile(rf"tensors/{re.escape(tensor['name'])}/chunks/[0-9a-f]{{32}}\.chunk")
    for c in chunks:
        check(isinstance(c, dict) and isinstance(c.get("key"), str), f"{key}: chunk ref")
        check(chunk_key.fullmatch(c["key"]) and is_uint(c.get("size")), f"{key}: chunk ref")
        check(isinstance(c.get("sha256"), bytes) and len(c["sha256"]) == 32, f"{key}: chunk")
    for r in samples:
        check(isinstance(r, dict), f"{key}: sample record")
        for f in ("chunk", "offset", "size", "extra_size", "frames_offset", "frames_size"):
            check(is_uint(r.get(f)), f"{key}: sample {f}")
        check(r["chunk"] < len(chunks) and is_uint(r.get("frames_crc32")), f"{key}: chunk")
        check(isinstance(r.get("sha256"), bytes) and len(r["sha256"]) == 32, f"{key}: sha256")
        check(r.get("format") in COMPRESSIONS, f"{key}: format", error=Unsupported)
        shape, tb = r.get("shape"), r.get("time_base")
        check(isinstance(shape, list) and len(shape) == 4 and shape[3] == 3, f"{key}: shape")
        check(all(is_uint(x) for x in shape), f"{key}: shape")
        check(isinstance(tb, list) and len(tb) == 2, f"{key}: time_base")
        check(all(is_uint(x) and x > 0 for x in tb), f"{key}: time_base")
        check(isinstance(r.get("codec"), dict), f"{key}: codec")
        for f, kind in CODEC_FIELDS.items():  # all twelve keys are required (§4)
            value = r["codec"].get(f)
            check(is_uint(value) if kind is int else isinstance(value, kind), f"{key}: {f}")
    return header


def read_frame_table(root: Path, ref: dict, record: dict) -> dict[str, np.ndarray]:
    """frames.md §1 and §3 (F1-F9). Counts from ``header_size`` (segments.md §1)."""
    key, start = ref["key"], ref["header_size"] + record["frames_offset"]
    raw = read_range(root, key, start, record["frames_size"])
    check(zlib.crc32(raw) & 0xFFFFFFFF == record["frames_crc32"], f"{key}: frame table CRC")  # F1
    try:
        doc = msgpack.unpackb(raw, raw=False)
    except ValueError as e:
        raise Corrupt(f"{key}: frame table is not msgpack: {e}") from e
    check(isinstance(doc, dict), f"{key}: frame table")  # F2
    check(is_uint(doc.get("packets")) and is_uint(doc.get("frames")), f"{key}: counts")
    table = {}
    for name, (dtype, count) in COLUMNS.items():
        blob = doc.get(name)
        itemsize = np.dtype(dtype).itemsize
        check(isinstance(blob, bytes) and len(blob) == doc[count] * itemsize, f"{key}: {name}")
        table[name] = np.frombuffer(blob, dtype)
    P, fp = doc["packets"], table["frame_packet"]
    check(np.all(table["offset"] >= 0), f"{key}: negative offset")  # F3
    check(np.all(table["flags"] & 0xFC == 0), f"{key}: flags")  # F4
    check(len(np.unique(fp)) == len(fp) and np.all(fp < P), f"{key}: frame_packet")  # F5
    check(np.all(table["flags"][fp] & DISCARD == 0), f"{key}: discarded frame")  # F6
    frame_pts = table["pts"][fp]
    check(np.all(frame_pts != np.iinfo(np.int64).min), f"{key}: frame without pts")  # F7
    check(np.all(np.diff(frame_pts) >= 0), f"{key}: frame pts decrease")
    ends = table["offset"].astype(np.uint64) + table["size"]  # F8, no int64 overflow
    check(P == 0 or int(ends.max()) <= record["size"] + record["extra_size"], f"{key}: F8")
    check(len(fp) == record["shape"][0], f"{key}: frames != shape[0]")  # F9
    return table


def open_sample(root: Path, manifest: dict, tensor_name: str, index: int) -> tuple:
    """reading.md §1 steps 3-5: (tensor, segment ref, segment header, record, frame table)."""
    tensor = next(t for t in manifest["tensors"] if t["name"] == tensor_name)
    refs = tensor["segments"]
    if not 0 <= index < tensor["length"]:
        raise IndexError(index)
    ref = refs[bisect.bisect_right([r["first"] for r in refs], index) - 1]
    header = read_segment_header(root, tensor, ref)
    record = header["samples"][index - ref["first"]]
    return tensor, ref, header, record, read_frame_table(root, ref, record)


def frame_times(record: dict, table: dict) -> list[float]:
    """frames.md §5: float64(pts) * num / den, in this order."""
    num, den = (float(x) for x in record["time_base"])
    return [float(pts) * num / den for pts in table["pts"][table["frame_packet"]]]


def start_packet(table: dict, k: int) -> int:
    """reading.md §2: last keyframe s <= p (decode order) with pts[s] <= pts[p], else 0."""
    p = int(table["frame_packet"][k])
    for s in range(p, -1, -1):
        if table["flags"][s] & KEYFRAME and table["pts"][s] <= table["pts"][p]:
            return s
    return 0


def plan_runs(table: dict, frames: list[int]) -> list[tuple[int, int, set[int]]]:
    """reading.md §2 "Runs": merge frames into [start, stop) ranges and wanted packets."""
    runs: list[tuple[int, int, set[int]]] = []
    for start, p in sorted((start_packet(table, k), int(table["frame_packet"][k])) for k in frames):
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], p + 1), runs[-1][2] | {p})
        else:
            runs.append((start, p + 1, {p}))
    return runs


def make_decoder(codec: dict) -> av.codec.context.CodecContext:
    """segments.md §4: a decoder for the descriptor name, with every context field set."""
    for name in DECODER_PREFERENCE.get(codec["name"], [codec["name"]]):
        try:
            ctx = av.CodecContext.create(av.Codec(name, "r"))
            break
        except av.codec.codec.UnknownCodecError:
            continue
    else:
        raise Unsupported(f"no decoder for {codec['name']}")
    if codec["extradata"]:
        ctx.extradata = codec["extradata"]
    if codec["tag"]:  # PyAV wants the FourCC as 4 characters: uint32 little-endian
        ctx.codec_tag = codec["tag"].to_bytes(4, "little").decode("latin-1")
    for field in ("width", "height", "pix_fmt", "bits_per_coded_sample", "field_order"):
        setattr(ctx, field, codec[field])
    for field in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(ctx, field, codec[field])
    return ctx


def read_frames(root: Path, tensor_name: str, index: int, frames: list[int]) -> dict:
    """Frames ``frames`` of sample ``index`` as {k: RGB array} (reading.md §3)."""
    manifest = newest_manifest(root)
    _, _, header, record, table = open_sample(root, manifest, tensor_name, index)
    chunk_key = header["chunks"][record["chunk"]]["key"]
    codec = record["codec"]
    pictures: dict[int, np.ndarray] = {}  # packet index -> RGB
    for start, stop, wanted in plan_runs(table, sorted(set(frames))):
        ctx = make_decoder(codec)
        for i in [*range(start, stop), None]:  # None: drain (send end of stream)
            packet = None
            if i is not None:
                at, size = record["offset"] + int(table["offset"][i]), int(table["size"][i])
                data = read_range(root, chunk_key, at, size)
                crc = zlib.crc32(data) & 0xFFFFFFFF
                check(crc == table["crc32"][i], f"{chunk_key}: packet {i} CRC-32 mismatch")
                packet = av.Packet(data)
                packet.pts = packet.dts = i  # synthetic: the picture's pts names its packet
                packet.is_keyframe = bool(table["flags"][i] & KEYFRAME)
            for picture in ctx.decode(packet):
                if picture.pts in wanted:
                    check(picture.width == codec["width"], f"{chunk_key}: picture width")
                    check(picture.height == codec["height"], f"{chunk_key}: picture height")
                    wanted.discard(picture.pts)
                    pictures[picture.pts] = picture.to_ndarray(format="rgb24")
            if not wanted:
                break
        check(not wanted, f"{chunk_key}: decoder gave no picture for packets {sorted(wanted)}")
    return {k: pictures[int(table["frame_packet"][k])] for k in frames}


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

SPEC = Path(__file__).resolve().parent.parent / "format_spec"
EVERY_FRAME = {"h264_bframes_editlist", "h264_open_gop", "hevc_10bit_open_gop", "mpeg4_avi"}
MP4S = [s.name for s in CORPUS if s.container == "mp4"]


@pytest.fixture(scope="module")
def dataset(corpus, tmp_path_factory) -> Path:
    """One tensor per corpus video, plus ``mp4s``: every MP4 video, one append each."""
    root = tmp_path_factory.mktemp("spec_reader") / "ds"
    ds = hubcli.empty(str(root))
    for spec in CORPUS:
        ds.create_tensor(spec.name, sample_compression=spec.container)
        getattr(ds, spec.name).append(str(corpus[spec.name]))
    ds.create_tensor("mp4s", sample_compression="mp4")
    for name in MP4S:
        ds.mp4s.append(str(corpus[name]))
    return root


def frames_to_check(spec_name: str, table: dict) -> list[int]:
    """First, middle, last, and the middle of every GOP (or all frames for the hard cases)."""
    n = len(table["frame_packet"])
    if spec_name in EVERY_FRAME:
        return list(range(n))
    packet_frame = {int(p): k for k, p in enumerate(table["frame_packet"])}
    keyframes = np.flatnonzero(table["flags"] & KEYFRAME)
    mid_gop = [packet_frame[p + 5] for p in keyframes if p + 5 in packet_frame]
    return sorted({0, n // 2, n - 1, *mid_gop})


@pytest.mark.parametrize("spec", CORPUS, ids=lambda s: s.name)
def test_reader_matches_oracle(dataset, corpus, oracle, spec) -> None:
    expected = oracle(corpus[spec.name])
    manifest = newest_manifest(dataset)
    _, _, _, record, table = open_sample(dataset, manifest, spec.name, 0)
    assert record["format"] == spec.container
    assert len(table["frame_packet"]) == len(expected.frames) == record["shape"][0]
    assert frame_times(record, table) == expected.times  # exact, frames.md §5
    wanted = frames_to_check(spec.name, table)
    # Each frame alone (its own run from its start packet), then all in one call (merged runs).
    for k in wanted:
        [(_, rgb)] = read_frames(dataset, spec.name, 0, [k]).items()
        assert frame_hash(rgb) == expected.hashes()[k], f"frame {k}"
    together = read_frames(dataset, spec.name, 0, wanted)
    assert [frame_hash(together[k]) for k in wanted] == [expected.hashes()[k] for k in wanted]


def test_several_samples_one_tensor(dataset, corpus, oracle) -> None:
    manifest = newest_manifest(dataset)
    tensor = next(t for t in manifest["tensors"] if t["name"] == "mp4s")
    assert tensor["length"] == len(MP4S) == len(tensor["segments"])
    for index, name in enumerate(MP4S):
        expected = oracle(corpus[name])
        _, _, _, record, table = open_sample(dataset, manifest, "mp4s", index)
        assert record["filename"] == str(corpus[name])
        assert frame_times(record, table) == expected.times
        last = len(expected.frames) - 1
        got = read_frames(dataset, "mp4s", index, [last, 0])
        assert [frame_hash(got[0]), frame_hash(got[last])] == [expected.hashes()[i] for i in (0, -1)]


def test_spec_examples(dataset) -> None:
    """reading.md §2 and frames.md §7 examples hold for the same corpus videos."""
    manifest = newest_manifest(dataset)
    table = open_sample(dataset, manifest, "h264_bframes", 0)[-1]
    assert [(a, b) for a, b, _ in plan_runs(table, [3])] == [(0, 5)]
    assert [(a, b) for a, b, _ in plan_runs(table, [3, 20])] == [(0, 5), (12, 22)]
    assert [(a, b) for a, b, _ in plan_runs(table, [59])] == [(58, 60)]
    table = open_sample(dataset, manifest, "h264_bframes_editlist", 0)[-1]
    assert (len(table["pts"]), len(table["frame_packet"]), table["flags"][0]) == (60, 55, 3)
    table = open_sample(dataset, manifest, "h264_open_gop", 0)[-1]
    assert table["frame_packet"][11] == 12 and start_packet(table, 11) == 0


@pytest.mark.parametrize("name", ["manifest-v0.json", "manifest-v2.json"])
def test_example_manifests_validate(name) -> None:
    version = int(name[len("manifest-v")])
    manifest = parse_manifest((SPEC / "examples" / name).read_bytes(), version, name)
    assert manifest["dataset_id"] == "4beb80ec63a03ddae99d93d2300d6d3a"
    if version == 2:
        [ref] = manifest["tensors"][0]["segments"]
        assert (ref["size"], ref["header_size"], ref["count"]) == (2855, 555, 1)


def write_manifest_like(src: Path, root: Path, **changes: object) -> Path:
    """A copy of ``src``'s newest manifest as a later version with ``changes`` applied."""
    doc = newest_manifest(src)
    doc.update(version=doc["version"] + 1, **changes)
    (root / "versions").mkdir(parents=True)
    (root / "versions" / f"{doc['version']:020d}.json").write_text(json.dumps(doc))
    return root


def test_refuses_format_2(dataset, tmp_path) -> None:
    root = write_manifest_like(dataset, tmp_path / "v2", format_version="2.0")
    with pytest.raises(Unsupported, match="format 2.0"):
        newest_manifest(root)
    for bad in ("1", "01.0", "1.0\n", 1.0):  # syntax errors are corruption, not "unsupported"
        root = write_manifest_like(dataset, tmp_path / repr(bad), format_version=bad)
        with pytest.raises(Corrupt, match="format_version"):
            newest_manifest(root)
    assert newest_manifest(write_manifest_like(dataset, tmp_path / "v17", format_version="1.7"))


def flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("target", ["packet", "frame table", "header"])
def test_detects_flipped_byte(corpus, tmp_path, target) -> None:
    root = tmp_path / "ds"
    ds = hubcli.empty(str(root))
    ds.create_tensor("v", sample_compression="mp4")
    ds.v.append(str(corpus["h264_bframes"]))
    manifest = newest_manifest(root)
    _, ref, header, record, table = open_sample(root, manifest, "v", 0)
    assert len(read_frames(root, "v", 0, [0])) == 1  # intact before the flip
    if target == "packet":  # a byte in the middle of packet 0, which frame 0 needs
        path = root / header["chunks"][record["chunk"]]["key"]
        flip_byte(path, record["offset"] + int(table["offset"][0]) + int(table["size"][0]) // 2)
        message = "packet 0 CRC-32"
    elif target == "frame table":
        flip_byte(root / ref["key"], ref["header_size"] + record["frames_offset"] + 40)
        message = "frame table CRC"
    else:
        flip_byte(root / ref["key"], ref["header_size"] - 3)
        message = "header SHA-256"
    with pytest.raises(Corrupt, match=message):
        read_frames(root, "v", 0, [0])
