"""Non-reference pictures: recognised from NAL headers, and left out only when unwanted."""

from __future__ import annotations

import av
import numpy as np

import hubcli
import hubcli.video.decode as decode
from hubcli.video.nal import is_disposable, nal_length_size
from support.media import frame_hash


def _avcc(*nals: bytes) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def test_h264_headers():
    sei, ref_slice, nonref_slice = b"\x06\x05xx", b"\x41\x9a", b"\x01\x9e"
    assert is_disposable("h264", _avcc(sei, nonref_slice), 4)
    assert not is_disposable("h264", _avcc(sei, ref_slice), 4)
    assert not is_disposable("h264", _avcc(b"\x65\x88"), 4)  # IDR
    assert not is_disposable("h264", _avcc(sei), 4)  # no slice at all
    assert is_disposable("h264", b"\x00\x00\x00\x01\x09\x10\x00\x00\x01\x01\x9e", None)  # Annex B
    assert not is_disposable("vp9", b"\x00" * 10, 0)


def test_hevc_headers():
    trail_n, trail_r, rasl_n, idr = b"\x00\x01", b"\x02\x01", b"\x10\x01", b"\x26\x01"
    assert is_disposable("hevc", _avcc(trail_n), 4)
    assert is_disposable("hevc", _avcc(rasl_n), 4)
    assert not is_disposable("hevc", _avcc(trail_r), 4)
    assert not is_disposable("hevc", _avcc(idr), 4)


def test_length_size_from_extradata(corpus):
    for name, codec in [("h264_bframes", "h264"), ("hevc", "hevc")]:
        with av.open(str(corpus[name])) as c:
            extradata = c.streams.video[0].codec_context.extradata
        assert nal_length_size(codec, extradata) == 4
    assert nal_length_size("h264", b"") is None
    assert nal_length_size("av1", b"\x81") == 0


def test_skipping_leaves_out_packets_and_changes_no_pixel(tmp_path, corpus, oracle, monkeypatch):
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("videos")
    ds.videos.extend([str(corpus["h264_bframes"]), str(corpus["hevc"])])
    fed = []
    real = decode._packet

    def counting(data, index, table):
        fed.append(index)
        return real(data, index, table)

    monkeypatch.setattr(decode, "_packet", counting)
    for i, name in enumerate(["h264_bframes", "hevc"]):
        wanted = [11, 23, 40, 58]
        fed.clear()
        got = ds.videos[i, wanted].numpy()
        with_skip = len(fed)
        assert [frame_hash(f) for f in got] == [oracle(corpus[name]).hashes()[k] for k in wanted]
        fed.clear()
        with hubcli.config.override(skip_non_reference=False):
            again = ds.videos[i, wanted].numpy()
        assert np.array_equal(got, again)
        assert with_skip < len(fed), (name, with_skip, len(fed))
