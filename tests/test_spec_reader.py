"""A reader written from ``format_spec/`` alone, tested against hubcli's writer.

The reader below (everything above the tests) uses only the standard library, msgpack,
numpy and PyAV, and no hubcli code. It is meant to be read as a worked example of the
format: each step names the spec section it follows. hubcli is used only to *write*
datasets (``empty``, ``create_tensor``, ``append``). The oracle is a plain PyAV decode of
the original file (``tests/media.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import msgpack
import numpy as np
import pytest

import hubcli
from support.media import CORPUS, frame_hash

# ---------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------

MANIFEST_KEY = re.compile(r"versions/([0-9]{20})\.json")  # layout.md §2; always fullmatch
RECORD_KEY = re.compile(r"log/([0-9]{20})\.json")  # log.md §1
CHECKPOINT_KEY = re.compile(r"checkpoints/([0-9]{20})\.json")
FORMAT_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")  # metadata.md §2
TENSOR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")  # metadata.md §3
HEX32, HEX64 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")
HTYPES, COMPRESSIONS = {"video"}, {"mp4", "mov", "mkv", "webm", "avi"}  # metadata.md §4
VALUE_HTYPES = {"class_label", "text", "json", "generic"}  # values.md (format 1.3)
KEYFRAME, DISCARD = 0x01, 0x02  # frames.md §1
COLUMNS = {"offset": "<i8", "size": "<u4", "pts": "<i8", "dts": "<i8", "flags": "<u1"}
COLUMNS |= {"crc32": "<u4", "frame_packet": "<u4"}  # frames.md §1; frame_packet has F rows
COLOUR_FIELDS = ("color_range", "colorspace", "color_primaries", "color_trc")
INT_CODEC_FIELDS = ("tag", "width", "height", "bits_per_coded_sample", "field_order")
# segments.md §4, non-normative: FFmpeg's native "av1" decoder needs a hardware accelerator.
DECODER_PREFERENCE = {"av1": ["libdav1d", "libaom-av1", "av1"]}


class Corrupt(Exception):
    """The bytes break the specification (hubcli: CorruptDatasetError)."""


class Unsupported(Exception):
    """A format version or feature this reader does not implement (UnsupportedFormatError)."""


def check(ok: object, what: str, *, error: type[Exception] = Corrupt) -> None:
    if not ok:
        raise error(what)


def is_uint(value: object) -> bool:
    """An integer >= 0. Booleans are not integers (metadata.md §1, segments.md §2)."""
    return type(value) is int and value >= 0


def is_int(value: object) -> bool:
    return type(value) is int


def matches(pattern: re.Pattern) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and pattern.fullmatch(value) is not None


def is_number(value: object) -> bool:
    """msgpack float 64, float 32 or integer (segments.md §2 "float")."""
    return type(value) in (float, int)


def is_sha256(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def need(obj: object, field: str, ok: type | Callable[[object], bool], where: str) -> Any:
    """``obj[field]``, which must exist and be of type ``ok`` or satisfy ``ok``."""
    value = obj.get(field) if isinstance(obj, dict) else None
    good = isinstance(value, ok) if isinstance(ok, type) else ok(value)
    check(value is not None and good, f"{where}: missing or bad {field!r}")
    return value


def read_range(root: Path, key: str, start: int, length: int) -> bytes:
    """A ranged read of exactly ``length`` bytes of object ``key`` (layout.md §2 key rules)."""
    parts = key.split("/")
    check(not {"", ".", ".."} & set(parts) and not {"\\", "\0"} & set(key), f"bad key {key!r}")
    with open(root.joinpath(*parts), "rb") as f:
        f.seek(start)
        data = f.read(length)
    check(len(data) == length, f"{key}: fewer than {length} bytes at {start}")
    return data


def read_all(root: Path, key: str) -> bytes:
    return read_range(root, key, 0, (root / key).stat().st_size)


def newest_manifest(root: Path) -> dict:
    """layout.md §3: list versions/, keep exact manifest keys, read only the largest."""
    names = os.listdir(root / "versions") if (root / "versions").is_dir() else []
    versions = [int(m[1]) for n in names if (m := MANIFEST_KEY.fullmatch(f"versions/{n}"))]
    if not versions:
        raise FileNotFoundError(f"no dataset at {root}")
    key = f"versions/{max(versions):020d}.json"
    return parse_manifest(read_all(root, key), max(versions), key)


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    check(len({k for k, _ in pairs}) == len(pairs), "repeated key in a JSON object")
    return dict(pairs)


def _json_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def load_json(data: bytes, where: str) -> Any:
    try:  # M1: UTF-8 without BOM, RFC 8259 JSON (no NaN), no repeated keys.
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_json_object, parse_constant=_json_constant
        )
    except ValueError as e:
        raise Corrupt(f"{where}: not UTF-8 JSON: {e}") from e


def check_format(doc: Any, where: str) -> str:
    """M2, M3: a hubcli object of a 1.x format; returns its format_version."""
    check(isinstance(doc, dict) and doc.get("format") == "hubcli", f"{where}: not hubcli")  # M2
    fv = need(doc, "format_version", matches(FORMAT_VERSION), where)  # M3
    check(fv.split(".")[0] == "1", f"{where} uses format {fv}, reads 1.x", error=Unsupported)
    return fv


def parse_manifest(data: bytes, version: int, where: str) -> dict:
    """metadata.md §5, rules M1-M8, M1-M3 in this order. ``version``: the key's number.
    A 1.2 anchor (log.md §7) is returned as it is, with its ``state`` checked."""
    doc = load_json(data, where)
    fv = check_format(doc, where)
    need(doc, "dataset_id", matches(HEX32), where)  # M4
    check(need(doc, "version", is_uint, where) == version, f"{where}: version != key")
    need(doc, "created_at", str, where)
    if fv not in ("1.0", "1.1"):  # log.md §7: the anchor holds the state it starts from
        state = parse_state(need(doc, "state", dict, where), f"{where} state")
        check(state["version"] == version and state["anchor"] == version, f"{where}: anchor")
        return doc
    names = set()
    for t in need(doc, "tensors", list, where):
        name = need(t, "name", matches(TENSOR_NAME), where)  # M5
        check(name not in names, f"{where}: tensor {name} twice")
        names.add(name)
        check(t.get("htype") in HTYPES, f"{where}: htype of {name}", error=Unsupported)  # M6
        compression = t.get("sample_compression")
        check(compression in COMPRESSIONS, f"{where}: {compression}", error=Unsupported)
        length = need(t, "length", is_uint, where)
        segment_key = re.compile(rf"tensors/{re.escape(name)}/segments/[0-9a-f]{{32}}\.seg")
        expected = 0
        for ref in need(t, "segments", list, where):  # M7: segments tile the samples
            check(need(ref, "first", is_uint, where) == expected, f"{where}: tiling of {name}")
            expected += need(ref, "count", is_uint, where)
            check(ref["count"] >= 1, f"{where}: empty segment")
            need(ref, "key", matches(segment_key), where)  # M8
            need(ref, "header_sha256", matches(HEX64), where)
            header_size = need(ref, "header_size", is_uint, where)
            check(16 <= header_size <= need(ref, "size", is_uint, where), f"{where}: header_size")
        check(expected == length, f"{where}: segments of {name} do not add up to its length")
    return doc


def legacy_state(doc: dict) -> dict:
    """A 1.0/1.1 manifest as a state (log.md §7): its segment references, in order, as
    the entries of spine[0]; the tensor's folder is its name."""
    tensors = []
    for t in doc["tensors"]:
        entries = [
            [
                r["key"].rsplit("/", 1)[1][:32],
                r["count"],
                r["header_size"],
                r["size"],
                r["header_sha256"],
            ]
            for r in t["segments"]
        ]
        tensors.append(
            dict(t, dir=t["name"], fanout=64, spine=[entries] if entries else [], deleted=[])
        )
    return dict(doc, tensors=tensors)


def parse_state(doc: Any, where: str) -> dict:
    """log.md §3: a state object."""
    check_format(doc, where)
    need(doc, "dataset_id", matches(HEX32), where)
    version, anchor = need(doc, "version", is_uint, where), need(doc, "anchor", is_uint, where)
    check(anchor <= version, f"{where}: anchor after version")
    for t in need(doc, "tensors", list, where):
        need(t, "name", matches(TENSOR_NAME), where)
        need(t, "dir", matches(TENSOR_NAME), where)
        htypes = HTYPES | VALUE_HTYPES | {"link[video]"}
        check(t.get("htype") in htypes, f"{where}: htype", error=Unsupported)
        if t["htype"] in VALUE_HTYPES:  # values.md §2: a label tensor's state has its info
            need(t, "info", dict, where)
        check(need(t, "fanout", is_uint, where) >= 2, f"{where}: fanout")
        spine = need(t, "spine", list, where)
        physical = 0
        for level, entries in enumerate(spine):
            for e in entries:
                check(isinstance(e, list) and len(e) == (5 if level == 0 else 2), where)
                check(
                    matches(HEX32)(e[0])
                    and all(is_uint(x) and x > 0 for x in e[1 : 4 if level == 0 else 2]),
                    where,
                )
                physical += e[1]
        deleted = need(t, "deleted", list, where)
        check(all(map(is_uint, deleted)) and deleted == sorted(set(deleted)), f"{where}: deleted")
        check(not deleted or deleted[-1] < physical, f"{where}: deleted past the end")
        check(need(t, "length", is_uint, where) == physical - len(deleted), f"{where}: length")
    return doc


def seal(tensor: dict, ids: list[str], where: str) -> None:
    """log.md §4.1: while a spine level holds fanout entries, its first fanout become a
    node (the next id), whose pointer goes to the next level."""
    spine, fanout = tensor["spine"], tensor["fanout"]
    level = 0
    while level < len(spine):
        while len(spine[level]) >= fanout:
            check(ids, f"{where}: too few node ids")
            node, spine[level] = spine[level][:fanout], spine[level][fanout:]
            if level + 1 == len(spine):
                spine.append([])
            spine[level + 1].append([ids.pop(0), sum(e[1] for e in node)])
        level += 1
    check(not ids, f"{where}: too many node ids")


def apply_record(state: dict, record: dict, where: str) -> dict:
    """log.md §2: the ops of a record, applied in order to a copy of ``state``."""
    state = json.loads(json.dumps(state))
    tensors = {t["name"]: t for t in state["tensors"]}
    for op in need(record, "ops", list, where):
        name, args = op[0], op[1:]
        if name == "tensor":
            t = {
                "name": args[0],
                "htype": args[1],
                "sample_compression": args[2],
                "dir": args[3],
                "fanout": 64,
                "length": 0,
                "spine": [],
                "deleted": [],
            }
            if len(args) == 5:  # values.md §2: a label tensor's op carries its info
                check(args[1] in VALUE_HTYPES and isinstance(args[4], dict), f"{where}: info")
                t["info"] = args[4]
            state["tensors"].append(t)
        elif name == "creds_key":
            state.setdefault("creds_keys", []).append({"name": args[0], "managed": args[1]})
        elif name == "manage":
            next(k for k in state["creds_keys"] if k["name"] == args[0])["managed"] = True
        elif name == "rename":
            next(t for t in state["tensors"] if t["name"] == args[0])["name"] = args[1]
        elif name == "info":  # values.md §2: only new class names or a first dtype
            t = next(t for t in state["tensors"] if t["name"] == args[0])
            old, info = t["info"], args[1]
            names = info.get("class_names", [])
            check(names[: len(old.get("class_names", []))] == old.get("class_names", []), where)
            check(old.get("dtype") in (None, info.get("dtype")), f"{where}: dtype changed")
            t["info"] = info
        elif name == "drop":
            state["tensors"] = [t for t in state["tensors"] if t["name"] != args[0]]
        else:
            t = next(t for t in state["tensors"] if t["name"] == args[0])
            if name == "append":
                if not t["spine"]:
                    t["spine"].append([])
                t["spine"][0].append([args[1], args[2], args[3], args[4], None])
                seal(t, list(args[5]), where)
                t["length"] += args[2]
            elif name == "delete":
                positions = [physical(t, i) for i in args[1]]
                t["deleted"] = sorted(set(t["deleted"]) | set(positions))
                t["length"] -= len(args[1])
            elif name == "layout":
                t["spine"], t["deleted"] = args[1]["spine"], args[1]["deleted"]
            else:
                raise Unsupported(f"{where}: op {name}")
    del tensors
    state["version"], state["created_at"] = record["v"], record["t"]
    return state


def physical(tensor: dict, index: int) -> int:
    """log.md §3.2: p = i + |{k : deleted[k] - k <= i}|."""
    return index + sum(1 for k, d in enumerate(tensor["deleted"]) if d - k <= index)


def read_record(root: Path, version: int) -> dict:
    key = f"log/{version:020d}.json"
    record = load_json(read_all(root, key), key)
    check(need(record, "v", is_uint, key) == version, f"{key}: v != key")
    return record


def newest_state(root: Path) -> dict:
    """log.md §5: the hint, else the newest manifest (a 1.0/1.1 one, or the anchor with the
    newest checkpoint and the records after it); then the records that follow."""
    state = None
    if (root / "log" / "hint.json").is_file():
        try:
            state = parse_state(load_json(read_all(root, "log/hint.json"), "hint"), "hint")
        except Corrupt:
            state = None  # a cache: go by the listing
    if state is None:
        doc = newest_manifest(root)
        if doc["format_version"] in ("1.0", "1.1"):
            return legacy_state(doc)
        anchor = doc["version"]
        state = doc["state"]
        records = [
            int(m[1]) for n in _names(root, "log") if (m := RECORD_KEY.fullmatch(f"log/{n}"))
        ]
        last = max(records, default=anchor)
        checkpoints = [
            int(m[1])
            for n in _names(root, "checkpoints")
            if (m := CHECKPOINT_KEY.fullmatch(f"checkpoints/{n}")) and anchor <= int(m[1]) <= last
        ]
        if checkpoints:
            key = f"checkpoints/{max(checkpoints):020d}.json"
            state = parse_state(load_json(read_all(root, key), key), key)
    while (root / "log" / f"{state['version'] + 1:020d}.json").is_file():
        record = read_record(root, state["version"] + 1)
        state = apply_record(state, record, f"log/{record['v']:020d}.json")
    return state


def _names(root: Path, folder: str) -> list[str]:
    return os.listdir(root / folder) if (root / folder).is_dir() else []


def read_node(root: Path, tensor: dict, entry: list, level: int) -> list:
    """log.md §4: magic, CRC-32, [level, entries], counts adding up."""
    key = f"tensors/{tensor['dir']}/nodes/{entry[0]}.node"
    raw = read_all(root, key)
    check(raw[:8] == b"HUBCNOD1", f"{key}: magic")
    check(zlib.crc32(raw[12:]) == int.from_bytes(raw[8:12], "little"), f"{key}: node CRC-32")
    node_level, entries = msgpack.unpackb(raw[12:], raw=False)
    check(node_level == level, f"{key}: level")
    entries = [
        [e[0].hex(), *e[1:4], e[4].hex() if e[4] else None] if level == 0 else [e[0].hex(), e[1]]
        for e in entries
    ]
    check(sum(e[1] for e in entries) == entry[1], f"{key}: counts")
    return entries


def find_segment(root: Path, tensor: dict, position: int) -> tuple[list, int]:
    """log.md §3.1: the segment entry holding physical ``position``, and the offset in it.
    Spine entries oldest first (highest level first); a level-L entry points to a node of
    level L-1; level 0 holds segment entries."""
    spine = tensor["spine"]
    candidates = [(level - 1, e) for level in range(len(spine) - 1, -1, -1) for e in spine[level]]
    while True:
        k = 0
        while k < len(candidates) and position >= candidates[k][1][1]:
            position -= candidates[k][1][1]
            k += 1
        if k == len(candidates):
            raise IndexError(position)
        node_level, entry = candidates[k]
        if node_level == -1:
            return entry, position
        candidates = [(node_level - 1, e) for e in read_node(root, tensor, entry, node_level)]


def read_segment_header(root: Path, tensor: dict, ref: dict) -> dict:
    """segments.md §1-§3: one ranged read of [0, header_size), checked first: by the
    SHA-256 of a 1.0/1.1 reference (HUBCSEG1), or by the CRC-32 in a 1.2 segment's own
    prefix (HUBCSEG2, log.md §1)."""
    key, header_size = ref["key"], ref["header_size"]
    raw = read_range(root, key, 0, header_size)
    if ref["sha256"] is not None:
        check(hashlib.sha256(raw).hexdigest() == ref["sha256"], f"{key}: header SHA-256")
        check(raw[:8] == b"HUBCSEG1", f"{key}: magic")
        check(16 + int.from_bytes(raw[8:16], "little") == header_size, f"{key}: 16 + H")
        body = raw[16:]
    else:
        check(raw[:8] == b"HUBCSEG2", f"{key}: magic")
        check(20 + int.from_bytes(raw[8:16], "little") == header_size, f"{key}: 20 + H")
        body = raw[20:]
        check(zlib.crc32(body) == int.from_bytes(raw[16:20], "little"), f"{key}: header CRC-32")
    try:
        header = msgpack.unpackb(body, raw=False)  # msgpack str -> str, bin -> bytes
    except ValueError as e:
        raise Corrupt(f"{key}: header is not msgpack: {e}") from e
    chunk_key = re.compile(rf"tensors/{re.escape(tensor['dir'])}/chunks/[0-9a-f]{{32}}\.chunk")
    chunks = need(header, "chunks", list, key)
    for n, c in enumerate(chunks):
        if ref["sha256"] is not None:
            need(c, "key", matches(chunk_key), key)
            need(c, "sha256", is_sha256, key)
        else:  # [id, size]: a chunk of the tensor's folder, by id (log.md §1)
            check(isinstance(c, list) and len(c) == 2 and isinstance(c[0], bytes), key)
            check(len(c[0]) == 16 and is_uint(c[1]), f"{key}: chunk reference")
            name = f"tensors/{tensor['dir']}/chunks/{c[0].hex()}.chunk"
            chunks[n] = c = {"key": name, "size": c[1]}
        need(c, "size", is_uint, key)
    samples = need(header, "samples", list, key)
    check(len(samples) == ref["count"], f"{key}: {len(samples)} records, its reference says count")
    for r in samples:  # §3: the sample record
        for field in ("offset", "size", "extra_size", "frames_offset", "frames_size"):
            need(r, field, is_uint, key)
        check(need(r, "chunk", is_uint, key) < len(chunks), f"{key}: chunk number")
        need(r, "frames_crc32", is_uint, key)
        need(r, "sha256", is_sha256, key)
        check(r.get("format") in COMPRESSIONS, f"{key}: format", error=Unsupported)
        shape, time_base = need(r, "shape", list, key), need(r, "time_base", list, key)
        check(len(shape) == 4 and all(map(is_uint, shape)) and shape[3] == 3, f"{key}: shape")
        check(len(time_base) == 2 and all(is_uint(x) and x > 0 for x in time_base), key)
        need(r, "filename", str, key)
        need(r, "duration", is_int, key)
        need(r, "fps", is_number, key)
        codec = need(r, "codec", dict, key)  # §4: all twelve keys are required
        need(codec, "name", str, key)
        need(codec, "pix_fmt", str, key)
        need(codec, "extradata", bytes, key)
        for field in INT_CODEC_FIELDS + COLOUR_FIELDS:
            need(codec, field, is_uint, key)
    return header


def read_frame_table(root: Path, ref: dict, record: dict) -> dict[str, np.ndarray]:
    """frames.md §1 and §3, F1-F9. ``frames_offset`` counts from header_size (segments.md §1)."""
    key = ref["key"]
    raw = read_range(root, key, ref["header_size"] + record["frames_offset"], record["frames_size"])
    check(zlib.crc32(raw) & 0xFFFFFFFF == record["frames_crc32"], f"{key}: frame table CRC")  # F1
    try:
        doc = msgpack.unpackb(raw, raw=False)
    except ValueError as e:
        raise Corrupt(f"{key}: frame table is not msgpack: {e}") from e
    P, F = need(doc, "packets", is_uint, key), need(doc, "frames", is_uint, key)  # F2
    table = {}
    for name, dtype in COLUMNS.items():
        rows = F if name == "frame_packet" else P
        blob = need(doc, name, bytes, key)
        check(len(blob) == rows * np.dtype(dtype).itemsize, f"{key}: length of {name}")
        table[name] = np.frombuffer(blob, dtype)
    fp, flags = table["frame_packet"], table["flags"]
    frame_pts = table["pts"][fp]
    check(np.all(table["offset"] >= 0), f"{key}: negative offset")  # F3
    check(np.all(flags & 0xFC == 0), f"{key}: unknown flags")  # F4
    check(len(np.unique(fp)) == F and np.all(fp < P), f"{key}: frame_packet")  # F5
    check(np.all(flags[fp] & DISCARD == 0), f"{key}: a frame is a discarded packet")  # F6
    check(np.all(frame_pts != np.iinfo(np.int64).min), f"{key}: frame without pts")  # F7
    check(np.all(np.diff(frame_pts) >= 0), f"{key}: frame pts decrease")
    ends = table["offset"].astype(np.uint64) + table["size"]  # F8, without int64 overflow
    check(P == 0 or int(ends.max()) <= record["size"] + record["extra_size"], f"{key}: F8")
    check(record["shape"][0] == F, f"{key}: frames != shape[0]")  # F9
    return table


def open_sample(root: Path, state: dict, tensor_name: str, index: int) -> tuple:
    """reading.md §1 steps 3-5 through log.md §3. Returns (segment reference, segment
    header, record, frame table); the reference has the segment's ``key``."""
    tensor = next(t for t in state["tensors"] if t["name"] == tensor_name)
    if not 0 <= index < tensor["length"]:
        raise IndexError(index)
    entry, offset = find_segment(root, tensor, physical(tensor, index))
    ref = {
        "key": f"tensors/{tensor['dir']}/segments/{entry[0]}.seg",
        "count": entry[1],
        "header_size": entry[2],
        "sha256": entry[4],
    }
    header = read_segment_header(root, tensor, ref)
    record = header["samples"][offset]
    return ref, header, record, read_frame_table(root, ref, record)


def frame_times(record: dict, table: dict) -> list[float]:
    """frames.md §5: float64(pts), times num, divided by den, rounding after each step."""
    num, den = (float(x) for x in record["time_base"])
    return [float(pts) * num / den for pts in table["pts"][table["frame_packet"]]]


def start_packet(table: dict, k: int) -> int:
    """reading.md §2: the last keyframe s <= p in decode order with pts[s] <= pts[p], else 0."""
    p = int(table["frame_packet"][k])
    for s in range(p, -1, -1):
        if table["flags"][s] & KEYFRAME and table["pts"][s] <= table["pts"][p]:
            return s
    return 0


def plan_runs(table: dict, frames: list[int]) -> list[tuple[int, int, set[int]]]:
    """reading.md §2 "Runs": packet ranges [start, stop) and the packets wanted from each."""
    runs: list[tuple[int, int, set[int]]] = []
    wanted = {(start_packet(table, k), int(table["frame_packet"][k])) for k in frames}
    for start, p in sorted(wanted):
        if runs and start <= runs[-1][1]:  # starts inside or at the end of the open run
            runs[-1] = (runs[-1][0], max(runs[-1][1], p + 1), runs[-1][2] | {p})
        else:
            runs.append((start, p + 1, {p}))
    return runs


def make_decoder(codec: dict) -> av.codec.context.CodecContext:
    """segments.md §4: a decoder for the codec descriptor name, with every field set."""
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
    if codec["tag"]:  # PyAV takes the FourCC as 4 characters: the uint32, little-endian
        ctx.codec_tag = codec["tag"].to_bytes(4, "little").decode("latin-1")
    for field in ("width", "height", "pix_fmt", "bits_per_coded_sample", "field_order"):
        setattr(ctx, field, codec[field])
    for field in COLOUR_FIELDS:
        setattr(ctx, field, codec[field])
    return ctx


def read_frames(root: Path, tensor_name: str, index: int, frames: list[int]) -> dict:
    """Frames ``frames`` of sample ``index`` of a tensor, as {k: RGB array} (reading.md §3)."""
    _, header, record, table = open_sample(root, newest_state(root), tensor_name, index)
    chunk_key, codec = header["chunks"][record["chunk"]]["key"], record["codec"]
    pictures: dict[int, np.ndarray] = {}  # packet index -> RGB
    for start, stop, wanted in plan_runs(table, frames):
        ctx = make_decoder(codec)  # one fresh decoder per run
        for i in [*range(start, stop), None]:  # None: drain the decoder (end of stream)
            packet = None
            if i is not None:
                size = int(table["size"][i])  # frames.md §6: offsets are sample offsets
                data = read_range(root, chunk_key, record["offset"] + int(table["offset"][i]), size)
                crc = zlib.crc32(data) & 0xFFFFFFFF
                check(crc == table["crc32"][i], f"{chunk_key}: packet {i} CRC-32 mismatch")
                # FFmpeg decoders may read past a packet's end and need 64 zero bytes there
                # (AV_INPUT_BUFFER_PADDING_SIZE). av.Packet(size) allocates them;
                # av.Packet(data) wraps the bytes without them (wrong mpeg4 pictures).
                packet = av.Packet(size)
                packet.update(data)
                packet.pts = packet.dts = i  # synthetic: a picture's pts names its packet
                packet.is_keyframe = bool(table["flags"][i] & KEYFRAME)
            for picture in ctx.decode(packet):
                if picture.pts in wanted:
                    wanted.remove(picture.pts)
                    size_ok = (picture.width, picture.height) == (codec["width"], codec["height"])
                    check(size_ok, f"{chunk_key}: picture of packet {picture.pts} has wrong size")
                    pictures[picture.pts] = picture.to_ndarray(format="rgb24")
            if not wanted:
                break
        check(not wanted, f"{chunk_key}: no picture from packets {sorted(wanted)}")
    return {k: pictures[int(table["frame_packet"][k])] for k in frames}


# ---------------------------------------------------------------------------------------
# Value tensors (values.md): class_label, text, json, generic
# ---------------------------------------------------------------------------------------

VALUE_MAGIC = b"HUBCVAL1"  # values.md §1
VALUE_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"}
VALUE_DTYPES |= {"uint64", "float16", "float32", "float64"}  # values.md §1.1 `dtype`
MAX_VALUE_HEADER = 64 << 20


def segment_entries(root: Path, tensor: dict) -> list[list]:
    """log.md §3.1: every segment entry of a tensor in physical order (spine[top] first,
    a node pointer standing for its node's entries)."""
    out: list[list] = []

    def expand(entry: list, node_level: int) -> None:
        if node_level < 0:
            out.append(entry)
            return
        for child in read_node(root, tensor, entry, node_level):
            expand(child, node_level - 1)

    for level in range(len(tensor["spine"]) - 1, -1, -1):
        for entry in tensor["spine"][level]:
            expand(entry, level - 1)
    return out


def read_value_header(root: Path, key: str, entry: list) -> dict:
    """values.md §1, §1.1: prefix, header CRC-32, then every rule of the header table."""
    count, header_size, size = entry[1], entry[2], entry[3]
    raw = read_range(root, key, 0, header_size)
    check(raw[:8] == VALUE_MAGIC, f"{key}: magic")
    length = int.from_bytes(raw[8:16], "little")
    check(20 + length == header_size and length <= MAX_VALUE_HEADER, f"{key}: 20 + H")
    check(zlib.crc32(raw[20:]) == int.from_bytes(raw[16:20], "little"), f"{key}: header CRC-32")
    try:
        header = msgpack.unpackb(raw[20:], raw=False)
    except ValueError as e:
        raise Corrupt(f"{key}: header is not msgpack: {e}") from e
    body = size - header_size
    check(need(header, "count", is_uint, key) == count, f"{key}: count != its entry's")
    check(header.get("dtype") in VALUE_DTYPES, f"{key}: dtype")
    shape = header.get("shape", "missing")
    check(shape is None or (isinstance(shape, list) and len(shape) <= 16), f"{key}: shape")
    check(shape is None or all(is_uint(d) and d > 0 for d in shape), f"{key}: shape sizes")
    block = need(header, "block", is_uint, key)
    check(block > 0, f"{key}: block")
    crcs = need(header, "crcs", bytes, key)
    check(len(crcs) == 4 * -(-body // block), f"{key}: one CRC per block")
    arrays = need(header, "arrays", dict, key)
    check(set(arrays) == ({"data"} if shape is not None else {"ndim", "dims", "data"}), key)
    for span in arrays.values():
        check(isinstance(span, list) and len(span) == 2 and all(map(is_uint, span)), key)
        check(span[0] + span[1] <= body, f"{key}: array past the body")
    return dict(header, body=body, header_size=header_size)


def read_body(root: Path, key: str, header: dict, a: int, b: int) -> bytes:
    """Body bytes [a, b), read as whole checksum blocks and checked (values.md §1.2)."""
    block, body = header["block"], header["body"]
    lo, hi = a - a % block, min(body, -(-b // block) * block)
    if a == b:
        return b""
    data = read_range(root, key, header["header_size"] + lo, hi - lo)
    for k in range(0, len(data), block):
        n = (lo + k) // block
        crc = int.from_bytes(header["crcs"][4 * n : 4 * n + 4], "little")
        check(zlib.crc32(data[k : k + block]) == crc, f"{key}: block {n} CRC-32")
    return data[a - lo : b - lo]


def sample_offsets(root: Path, key: str, header: dict) -> tuple[list[tuple], list[int]]:
    """Each sample's shape and element offsets (count + 1), from the header alone when
    ``shape`` is set, else from ``ndim`` and ``dims`` (values.md §1.1); the sizes are
    checked against ``data`` before anything is allocated from them."""
    count, dtype = header["count"], np.dtype(header["dtype"])
    if header["shape"] is not None:
        shapes = [tuple(header["shape"])] * count
    else:
        (n_at, n_size), (d_at, d_size) = header["arrays"]["ndim"], header["arrays"]["dims"]
        if n_at + n_size == d_at:  # back to back, as writers put them: one ranged read
            both = read_body(root, key, header, n_at, d_at + d_size)
            ndim_bytes, dims_bytes = both[:n_size], both[n_size:]
        else:
            ndim_bytes = read_body(root, key, header, n_at, n_at + n_size)
            dims_bytes = read_body(root, key, header, d_at, d_at + d_size)
        ndim, dims = np.frombuffer(ndim_bytes, np.uint8), np.frombuffer(dims_bytes, "<i8")
        check(len(ndim) == count and all(n <= 16 for n in ndim), f"{key}: ndim")
        check(len(dims) == int(ndim.sum()) and all(d >= 0 for d in dims), f"{key}: dims")
        ends = np.cumsum(ndim).tolist()
        shapes = [tuple(dims[e - n : e].tolist()) for n, e in zip(ndim.tolist(), ends, strict=True)]
    need_bytes = sum(float(np.prod(s, dtype=np.float64)) for s in shapes) * dtype.itemsize
    check(need_bytes == header["arrays"]["data"][1], f"{key}: data size != the shapes'")
    offsets = [0]
    for shape in shapes:
        offsets.append(offsets[-1] + int(np.prod(shape, dtype=np.int64)))
    return shapes, offsets


def to_value(htype: str, array: np.ndarray) -> Any:
    """values.md §3: text is UTF-8, json its RFC 8259 text; the others their arrays."""
    if htype == "text":
        return array.tobytes().decode("utf-8")
    if htype == "json":
        return load_json(array.tobytes(), "json value")
    return array


def value_tensor(root: Path, name: str) -> tuple[dict, dict]:
    state = newest_state(root)
    tensor = next(t for t in state["tensors"] if t["name"] == name)
    check(tensor["htype"] in VALUE_HTYPES, f"{name} holds no values")
    return state, tensor


def read_values(root: Path, name: str) -> list[Any]:
    """Every sample of a value tensor: each segment read whole, checked and split."""
    _, tensor = value_tensor(root, name)
    samples: list[np.ndarray] = []
    for entry in segment_entries(root, tensor):
        key = f"tensors/{tensor['dir']}/segments/{entry[0]}.seg"
        header = read_value_header(root, key, entry)
        check(header["dtype"] == tensor["info"]["dtype"], f"{key}: dtype != the tensor's")
        shapes, offsets = sample_offsets(root, key, header)
        at, size = header["arrays"]["data"]
        dtype = np.dtype(header["dtype"]).newbyteorder("<")
        data = np.frombuffer(read_body(root, key, header, at, at + size), dtype)
        samples += [
            data[a:b].reshape(s) for a, b, s in zip(offsets[:-1], offsets[1:], shapes, strict=True)
        ]
    gone = set(tensor["deleted"])  # log.md §3.2
    kept = [a for p, a in enumerate(samples) if p not in gone]
    check(len(kept) == tensor["length"], f"{name}: length")
    return [to_value(tensor["htype"], a) for a in kept]


def read_value(root: Path, name: str, index: int) -> Any:
    """One sample by ranged reads (values.md §1.2): the header, the shapes when they
    differ, then only the blocks that hold the sample's elements."""
    _, tensor = value_tensor(root, name)
    if not 0 <= index < tensor["length"]:
        raise IndexError(index)
    entry, s = find_segment(root, tensor, physical(tensor, index))
    key = f"tensors/{tensor['dir']}/segments/{entry[0]}.seg"
    header = read_value_header(root, key, entry)
    shapes, offsets = sample_offsets(root, key, header)
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    at = header["arrays"]["data"][0]
    a, b = at + offsets[s] * dtype.itemsize, at + offsets[s + 1] * dtype.itemsize
    array = np.frombuffer(read_body(root, key, header, a, b), dtype).reshape(shapes[s])
    return to_value(tensor["htype"], array)


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
    manifest = newest_state(dataset)
    _, _, record, table = open_sample(dataset, manifest, spec.name, 0)
    assert record["format"] == spec.container
    assert len(table["frame_packet"]) == len(expected.frames) == record["shape"][0]
    assert frame_times(record, table) == expected.times  # exact, frames.md §5
    hashes, wanted = expected.hashes(), frames_to_check(spec.name, table)
    # Each frame alone (its own run from its start packet), then all in one call (merged runs).
    for k in wanted:
        assert frame_hash(read_frames(dataset, spec.name, 0, [k])[k]) == hashes[k], f"frame {k}"
    together = read_frames(dataset, spec.name, 0, wanted)
    assert [frame_hash(together[k]) for k in wanted] == [hashes[k] for k in wanted]


def test_several_samples_one_tensor(dataset, corpus, oracle) -> None:
    manifest = newest_state(dataset)
    tensor = next(t for t in manifest["tensors"] if t["name"] == "mp4s")
    assert tensor["length"] == len(MP4S) == len(tensor["spine"][0])  # one append each
    for index, name in enumerate(MP4S):
        expected = oracle(corpus[name])
        _, _, record, table = open_sample(dataset, manifest, "mp4s", index)
        assert record["filename"] == str(corpus[name])
        assert frame_times(record, table) == expected.times
        ends = [0, len(expected.frames) - 1]
        got = read_frames(dataset, "mp4s", index, ends)
        assert [frame_hash(got[k]) for k in ends] == [expected.hashes()[k] for k in ends]


def test_spec_examples(dataset) -> None:
    """reading.md §2 and frames.md §7 examples hold for the same corpus videos."""
    manifest = newest_state(dataset)
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
    """A copy of ``src``'s anchor as a later version with ``changes`` applied, in a root
    of its own (no hint, no log: readers find it by listing versions/)."""
    doc = load_json((src / "versions" / f"{0:020d}.json").read_bytes(), "anchor")
    version = doc["version"] + 1
    doc["state"].update(version=version, anchor=version, **changes)
    doc.update(version=version, **changes)
    (root / "versions").mkdir(parents=True)
    (root / "versions" / f"{version:020d}.json").write_text(json.dumps(doc))
    return root


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
    manifest = newest_state(root)
    ref, header, record, table = open_sample(root, manifest, "v", 0)
    assert len(read_frames(root, "v", 0, [0])) == 1  # intact before the flip
    if target == "packet":  # a byte in the middle of packet 0, which frame 0 needs
        path = root / header["chunks"][record["chunk"]]["key"]
        flip_byte(path, record["offset"] + int(table["offset"][0]) + int(table["size"][0]) // 2)
        message = "packet 0 CRC-32"
        assert len(read_frames(root, "v", 0, [59])) == 1  # run [58, 60) does not read packet 0
    elif target == "frame table":
        flip_byte(root / ref["key"], ref["header_size"] + record["frames_offset"] + 40)
        message = "frame table CRC"
    else:
        flip_byte(root / ref["key"], ref["header_size"] - 3)
        message = "header CRC-32"
    with pytest.raises(Corrupt, match=message):
        read_frames(root, "v", 0, [0])


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _clip_frames(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [frame_hash(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def test_reads_datasets_of_older_formats() -> None:
    """A dataset written by the 1.0 writer (tests/fixtures, kept as it was made); the 1.1
    fixture has a link tensor, which this minimal video reader refuses (versioning.md §2
    rule 4), as it must."""
    root = FIXTURES / "format-1.0"
    state = newest_state(root)
    assert state["format_version"] == "1.0"
    for tensor in state["tensors"]:
        for index in range(tensor["length"]):
            record = open_sample(root, state, tensor["name"], index)[2]
            expected = _clip_frames(FIXTURES / "clips" / Path(record["filename"]).name)
            got = read_frames(root, tensor["name"], index, list(range(len(expected))))
            assert [frame_hash(got[k]) for k in range(len(expected))] == expected
    with pytest.raises(Unsupported, match="htype of links"):
        newest_state(FIXTURES / "format-1.1")


def _first_frames(root: Path, tensor: str) -> list[str]:
    state = newest_state(root)
    length = next(t for t in state["tensors"] if t["name"] == tensor)["length"]
    return [frame_hash(read_frames(root, tensor, i, [0])[0]) for i in range(length)]


def test_reads_sealed_compacted_and_removed_samples(tmp_path) -> None:
    """More appends than a node holds (sealed nodes), removed samples, a renamed tensor,
    then a compaction, then more appends, and an upgraded 1.0 dataset: the spec-only
    reader agrees with the sources' own decode at every step."""
    import shutil

    clips = sorted((FIXTURES / "clips").glob("*.mp4"))
    firsts = {str(c): _clip_frames(c)[0] for c in clips}
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("v", sample_compression="mp4")
    order = [str(clips[i % len(clips)]) for i in range(70)]
    for path in order:
        ds.v.append(path)
    assert (root / "tensors" / "v" / "nodes").is_dir()  # 70 > 64: a sealed node
    assert _first_frames(root, "v") == [firsts[p] for p in order]
    del ds.v[[0, 5, 66]]
    for i in (66, 5, 0):
        del order[i]
    ds.rename_tensor("v", "clips")
    assert _first_frames(root, "clips") == [firsts[p] for p in order]
    assert ds.compact()
    ds.clips.append(order[1])
    order.append(order[1])
    assert _first_frames(root, "clips") == [firsts[p] for p in order]
    (root / "log" / "hint.json").unlink()  # by the listing, checkpoint and records too
    assert _first_frames(root, "clips") == [firsts[p] for p in order]

    legacy = shutil.copytree(FIXTURES / "format-1.0", tmp_path / "legacy")
    before = newest_state(legacy)["tensors"][0]["length"]
    with pytest.warns(hubcli.errors.HubcliWarning, match="upgraded"):
        hubcli.load(legacy).videos.append(str(clips[0]))
    state = newest_state(legacy)
    assert state["format_version"] == "1.2" and state["tensors"][0]["length"] == before + 1
    assert _first_frames(legacy, "videos")[-1] == firsts[str(clips[0])]


def _value_rows() -> dict[str, list]:
    """Samples of every value htype, for two appends each; generic ones of several
    dtypes, ragged, zero-size and scalar."""
    rng = np.random.default_rng(17)
    return {
        "labels": ["cat", 1, ["dog", "bird"], [], 7, "cat"],
        "caps": ["", "one line", "two\nlines", "日本語 ✓", "\0 nul", "x" * 300],
        "meta": [{"a": [1, 2.5, None]}, [], "s", {"é": {"deep": [True, False]}}, 0, -1e300],
        "boxes": [rng.random((k % 3, 4)).astype(np.float32) for k in range(6)],
        "masks": [rng.random(3) > 0.5 for _ in range(6)],
        "big": [np.array([2**64 - 1 - k, k], np.uint64) for k in range(6)],
        "half": [np.float16(k / 3) for k in range(6)],
    }


def _write_values(root: Path) -> None:
    ds = hubcli.empty(root)
    ds.create_tensor("labels", htype="class_label", class_names=["cat"])
    ds.create_tensor("caps", htype="text")
    ds.create_tensor("meta", htype="json")
    ds.create_tensor("boxes", htype="generic", dtype="float32")
    ds.create_tensor("masks", htype="generic", dtype="bool", shape=(3,))
    ds.create_tensor("big", htype="generic")  # dtype set by the first append (an info op)
    ds.create_tensor("half", htype="generic", dtype="float16", shape=())
    rows = _value_rows()
    ds.extend({name: values[:4] for name, values in rows.items()})
    for name, values in rows.items():
        ds[name].extend(values[4:])


def _same(htype: str, got: Any, expected: Any) -> bool:
    if htype == "json":
        return json.dumps(got) == json.dumps(expected)
    if htype == "text":
        return got == expected
    return (
        got.dtype == expected.dtype
        and got.shape == expected.shape
        and got.tobytes() == (expected.tobytes())
    )


def _compare_values(root: Path) -> None:
    """The spec-only reader agrees with hubcli on every sample of every value tensor,
    read whole and one by one (ranged)."""
    ds = hubcli.load(root)
    state = newest_state(root)
    for tensor in state["tensors"]:
        name, htype = tensor["name"], tensor["htype"]
        expected = ds[name].numpy(aslist=True)
        got = read_values(root, name)
        assert len(got) == len(expected) == len(ds[name]), name
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert _same(htype, g, e), (name, i, g, e)
            assert _same(htype, read_value(root, name, i), e), (name, i)
        assert tensor["info"]["dtype"] == ds[name].info["dtype"]
        assert tensor["info"].get("class_names", []) == ds[name].info["class_names"]


def test_reads_value_tensors(tmp_path, monkeypatch) -> None:
    """Every value htype, after two appends, deletes, compaction and more appends; with
    64-byte checksum blocks, so ranged reads span and check several blocks."""
    monkeypatch.setattr("hubcli.format.values.BLOCK", 64)
    root = tmp_path / "ds"
    _write_values(root)
    _compare_values(root)
    state = newest_state(root)
    labels = next(t for t in state["tensors"] if t["name"] == "labels")
    assert labels["info"]["class_names"] == ["cat", "dog", "bird"]
    assert [a.tolist() for a in read_values(root, "labels")] == [0, 1, [1, 2], [], 7, 0]
    ds = hubcli.load(root)
    for name in ds.tensors:
        del ds[name][[0, 3]]
    _compare_values(root)
    assert ds.compact()
    rows = _value_rows()
    ds.extend({name: values[1:3] for name, values in rows.items()})
    _compare_values(root)
    (root / "log" / "hint.json").unlink()  # by the listing, checkpoint and records too
    _compare_values(root)


def test_value_segments_detect_flipped_bytes(tmp_path) -> None:
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("caps", htype="text")
    ds.caps.extend(["abc", "de", "f"])
    assert read_values(root, "caps") == ["abc", "de", "f"]
    [segment] = (root / "tensors" / "caps" / "segments").glob("*.seg")
    size = segment.stat().st_size
    flip_byte(segment, size - 2)  # in "abc"/"de"/"f": data is last
    with pytest.raises(Corrupt, match="block 0 CRC-32"):
        read_values(root, "caps")
    flip_byte(segment, size - 2)
    flip_byte(segment, 25)  # in the msgpack header
    with pytest.raises(Corrupt, match="header CRC-32"):
        read_value(root, "caps", 1)
