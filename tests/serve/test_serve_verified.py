"""Issue 13 point 2: every byte the playback server sends comes from a regular file of the
dataset (or a linked object through the link checks) and is verified as a reader would:
chunk magic, the stored file's SHA-256 (local reads), each packet's CRC-32 (always).
A sample that fails answers an error status (or a cut connection), never the bytes."""

from __future__ import annotations

import os

import pytest
from serve_helpers import get, make_big_video

import hubcli
from hubcli.serve.server import PlaybackServer

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- root's secret -----\n"
MARKER = b"ALTERED!"


def _chunk_of(root, tensor="videos", index=0):
    """The chunk file of a stored sample, the sample's offset in it, and its packets'
    offsets and sizes (relative to the sample)."""
    ds = hubcli.load(root, read_only=True)
    reader = ds[tensor].reader()
    loc = reader.locate(index)
    table = reader.frame_table(index)
    chunk = root.joinpath(*loc.chunk_key.split("/"))
    return chunk, loc.record.offset, table


def _overwrite(path, offset, data):
    """Change bytes in place: same file, same size (what a bit rot or a tamperer does)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _requests(server, tensor="videos", index=0):
    """What a player and a page ask for: the whole video, ranges, HEAD, the thumbnail."""
    video = f"/{server.token}/video/{tensor}/{index}"
    return [
        get(server, video),
        get(server, video, {"Range": "bytes=0-"}),
        get(server, video, {"Range": "bytes=100-4099"}),
        get(server, video, method="HEAD"),
        get(server, f"/{server.token}/thumb/{tensor}/{index}.png"),
    ]


@pytest.fixture
def stored(tmp_path, make_dataset):
    root = tmp_path / "ds"
    make_dataset(root, {"videos": ("mp4", ["h264_bframes"]), "old": ("avi", ["mpeg4_avi"])})
    return root


@pytest.fixture
def secret(tmp_path):
    """A file outside the dataset that the server's user can read (root's key)."""
    path = tmp_path / "home" / "id_rsa"
    path.parent.mkdir()
    path.write_bytes(SECRET * 4096)  # larger than any chunk, so every range exists
    return path


def _never_sent(responses, forbidden):
    for response, body in responses:
        assert response.status >= 400, (response.status, body[:80])
        assert forbidden not in body
        assert response.getheader("Content-Type", "").startswith("text/plain")


def test_a_chunk_symlinked_to_a_secret_is_never_served(stored, secret):
    chunk, _, _ = _chunk_of(stored)
    chunk.unlink()
    chunk.symlink_to(secret)
    with PlaybackServer(hubcli.load(stored, read_only=True)) as server:
        _never_sent(_requests(server), SECRET[:20])


def test_a_chunk_hard_linked_to_a_secret_is_never_served(stored, secret):
    """A regular file inside the dataset, as the store sees it (a hard link, from a
    tarball or made by the owner): the chunk magic and the SHA-256 refuse it."""
    chunk, _, _ = _chunk_of(stored)
    chunk.unlink()
    os.link(secret, chunk)
    with PlaybackServer(hubcli.load(stored, read_only=True)) as server:
        _never_sent(_requests(server), SECRET[:20])


def test_a_chunk_with_the_magic_but_other_bytes_is_never_served(stored):
    chunk, offset, table = _chunk_of(stored)
    middle = offset + int(table.offset[len(table.offset) // 2])
    _overwrite(chunk, middle, MARKER)
    with PlaybackServer(hubcli.load(stored, read_only=True)) as server:
        responses = _requests(server)
    _never_sent(responses[:4], MARKER)
    assert "SHA-256" in responses[0][1].decode()


def test_container_bytes_outside_the_packets_are_verified_too(stored):
    """The moov/ftyp bytes are in no packet: only the SHA-256 covers them."""
    chunk, offset, _ = _chunk_of(stored)
    _overwrite(chunk, offset + 8, MARKER)  # inside the 'ftyp' box
    with PlaybackServer(hubcli.load(stored, read_only=True)) as server:
        _never_sent(_requests(server)[:4], MARKER)


def test_a_transcoded_sample_is_verified_before_ffmpeg_sees_it(stored):
    chunk, offset, table = _chunk_of(stored, "old")
    _overwrite(chunk, offset + int(table.offset[0]), MARKER)
    with PlaybackServer(hubcli.load(stored, read_only=True)) as server:
        assert server.library.mode("old", 0) == "transcode"
        response, body = get(server, f"/{server.token}/video/old/0")
    assert response.status == 500 and b"SHA-256" in body


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A stored sample of several pieces, so that a bad packet lies past the first one."""
    folder = tmp_path_factory.mktemp("verified-big")
    video = make_big_video(folder / "big.mp4", 6, width=640, height=480)
    root = folder / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.append(str(video))
    return root, video.read_bytes()


def test_bytes_changed_after_the_first_check_are_never_sent(big):
    """The SHA-256 passed on the first request; a packet changed afterwards fails its
    CRC-32 in the piece that holds it: before the status line (an error status) or, past
    the first piece, by cutting the connection before that piece."""
    root, data = big
    chunk, offset, table = _chunk_of(root)
    with PlaybackServer(hubcli.load(root, read_only=True)) as server:
        video = f"/{server.token}/video/videos/0"
        response, body = get(server, video)
        assert response.status == 200 and body == data
        last = len(table.offset) - 1
        at, size = int(table.offset[last]), int(table.size[last])
        assert at > 2 << 20  # past the first pieces
        _overwrite(chunk, offset + at + size // 2, MARKER)
        response, body = get(server, video)
        assert response.status == 200 and MARKER not in body
        assert len(body) < len(data) and body == data[: len(body)]  # cut, never altered
        response, body = get(server, video, {"Range": f"bytes={at}-{at + size - 1}"})
        assert response.status == 500 and MARKER not in body
        response, body = get(server, video, {"Range": f"bytes=0-{at - 1}"})
        assert response.status == 206 and body == data[:at]  # the rest is still served


def test_a_local_link_changed_in_place_is_never_served(tmp_path, corpus):
    """Same size, same mtime (the link's identity check passes): the SHA-256 refuses."""
    linked = tmp_path / "clip.mkv"
    linked.write_bytes(corpus["h264_open_gop"].read_bytes())
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(linked)))
    stat = linked.stat()
    _overwrite(linked, stat.st_size // 2, MARKER)
    os.utime(linked, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with PlaybackServer(hubcli.load(root, read_only=True)) as server:
        _never_sent(_requests(server, "links")[:4], MARKER)


def test_a_remote_sample_checks_packets_and_reads_only_the_asked_range(s3, corpus):
    """Over the network the SHA-256 would download the whole video: each response checks
    the packets it holds whole, and still only the asked range leaves the bucket."""
    url = f"s3://{s3.new_bucket()}/ds"
    ds = hubcli.empty(url)
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    reader = hubcli.load(url, read_only=True).videos.reader()
    loc, table = reader.locate(0), reader.frame_table(0)
    data = corpus["h264_bframes"].read_bytes()
    n = len(table.offset) // 2
    at, size = int(table.offset[n]), int(table.size[n])
    key = f"{url.removeprefix('s3://')}/{loc.chunk_key}"
    chunk = bytearray(s3.fs.cat_file(key))
    chunk[loc.record.offset + at : loc.record.offset + at + len(MARKER)] = MARKER
    s3.fs.pipe_file(key, bytes(chunk))
    with PlaybackServer(hubcli.load(url, read_only=True)) as server:
        video = f"/{server.token}/video/videos/0"
        response, body = get(server, video, {"Range": f"bytes={at - 10}-{at + size + 9}"})
        assert response.status == 500 and MARKER not in body
        s3.proxy.reset()
        response, body = get(server, video, {"Range": "bytes=100-199"})
        assert response.status == 206 and body == data[100:200]
        chunk_gets = [e for e in s3.proxy.log if e.method == "GET" and "/chunks/" in e.path]
        assert [e.sent for e in chunk_gets] == [100]
