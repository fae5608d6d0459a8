"""Issue 13 point 1 (and the FIFO/device parts of point 6): the local store never follows
a symbolic link or opens a special file anywhere under a dataset root, for reads, writes,
listings and deletes; each such entry is one error line naming it, and nothing outside
the root is read, written or removed."""

from __future__ import annotations

import os
import socket
import stat
import threading

import pytest

import hubcli
from hubcli.errors import UnsafeEntryError
from hubcli.storage.local import LocalStore
from support.clirun import assert_user_error, hubcli_run
from support.helpers import snapshot


@pytest.fixture
def ds_root(tmp_path, corpus):
    root = tmp_path / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos", sample_compression="mp4")
    ds.videos.append(str(corpus["h264_bframes"]))
    return root


@pytest.fixture
def outside(tmp_path):
    """A folder of someone's files that a hostile dataset points at."""
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "notes.txt").write_text("precious\n")
    (victim / "sub" / "id_rsa").write_text("-----BEGIN KEY-----\n")
    return victim


def _move_out_and_link(root, rel, outside):
    """Replace ``root/rel`` (a folder) by a symlink to a copy of the victim folder with the
    dataset's files added, as a hostile tarball would ship it."""
    target = root / rel
    for path in sorted(target.rglob("*")):
        if path.is_file():
            dest = outside / path.relative_to(target)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    for path in sorted(target.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    target.rmdir()
    target.symlink_to(outside, target_is_directory=True)


@pytest.mark.parametrize("rel", ["tensors", "versions"])
def test_overwrite_never_deletes_through_a_symlinked_folder(ds_root, outside, rel):
    _move_out_and_link(ds_root, rel, outside)
    before = snapshot(outside)
    run = hubcli_run("create", str(ds_root), "--overwrite")
    assert_user_error(run, f"{ds_root / rel}: is a symbolic link")
    assert snapshot(outside) == before
    assert (outside / "notes.txt").read_text() == "precious\n"


def test_python_overwrite_refuses_too(ds_root, outside):
    _move_out_and_link(ds_root, "tensors", outside)
    before = snapshot(outside)
    with pytest.raises(UnsafeEntryError, match="is a symbolic link"):
        hubcli.empty(ds_root, overwrite=True)
    assert snapshot(outside) == before


def test_append_never_writes_into_a_symlinked_tensor_folder(ds_root, outside, corpus):
    videos = ds_root / "tensors" / "videos"
    (outside / "chunks").mkdir()
    for sub in ("chunks", "segments"):
        for path in (videos / sub).iterdir():
            (outside / sub).mkdir(exist_ok=True)
            (outside / sub / path.name).write_bytes(path.read_bytes())
    before_out = snapshot(outside)
    for sub in ("chunks", "segments"):
        for path in (videos / sub).iterdir():
            path.unlink()
        (videos / sub).rmdir()
    videos.rmdir()
    videos.symlink_to(outside, target_is_directory=True)
    before = snapshot(ds_root)
    run = hubcli_run("append", str(ds_root), "videos", str(corpus["hevc"]))
    assert_user_error(run, f"{videos}: is a symbolic link")
    assert snapshot(outside) == before_out
    assert snapshot(ds_root) == before


def test_a_symlinked_chunk_is_never_read(ds_root, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"TOP SECRET " * 1000)
    chunk = next((ds_root / "tensors" / "videos" / "chunks").iterdir())
    chunk.unlink()
    chunk.symlink_to(secret)
    for args in (["export", str(ds_root), "videos[0, 0]", "-o", str(tmp_path / "f.npy")],):
        assert_user_error(hubcli_run(*args), f"{chunk}: is a symbolic link")
    run = hubcli_run("verify", str(ds_root))
    assert run.code == 1 and "is a symbolic link" in run.stdout, run
    assert "TOP SECRET" not in run.stdout + run.stderr
    assert not (tmp_path / "f.npy").exists()


@pytest.mark.parametrize("without_hint", [False, True])
def test_a_manifest_linked_to_dev_zero_is_refused_at_once(ds_root, without_hint):
    """The first object a reader opens (the hint), or the anchor when there is no hint."""
    hint = ds_root / "log" / "hint.json"
    if without_hint:
        hint.unlink()
    target = max((ds_root / "versions").iterdir()) if without_hint else hint
    target.unlink()
    target.symlink_to("/dev/zero")
    run = hubcli_run("info", str(ds_root))
    assert_user_error(run, f"{target}: is a symbolic link")


def _fifo(path):
    path.unlink()
    os.mkfifo(path)


def _no_hang(fn, seconds=60):
    """Run ``fn`` in a thread; fail (rather than hang the suite) if it blocks."""
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked on a special file"
    return result


@pytest.mark.parametrize("without_hint", [False, True])
def test_a_fifo_manifest_is_refused_without_blocking(ds_root, without_hint):
    hint = ds_root / "log" / "hint.json"
    if without_hint:
        hint.unlink()
    manifest = max((ds_root / "versions").iterdir()) if without_hint else hint
    _fifo(manifest)
    result = _no_hang(lambda: hubcli.load(ds_root))
    assert isinstance(result.get("error"), UnsafeEntryError)
    assert f"{manifest}: is a FIFO" in str(result["error"])
    assert_user_error(hubcli_run("info", str(ds_root)), "is a FIFO")


def test_a_fifo_chunk_is_refused_without_blocking(ds_root, tmp_path):
    chunk = next((ds_root / "tensors" / "videos" / "chunks").iterdir())
    _fifo(chunk)
    ds = hubcli.load(ds_root)
    result = _no_hang(lambda: ds.videos[0, 0].numpy())
    assert isinstance(result.get("error"), UnsafeEntryError), result
    run = hubcli_run("export", str(ds_root), "videos[0, 0]", "-o", str(tmp_path / "x.npy"))
    assert_user_error(run, f"{chunk}: is a FIFO")


def test_a_socket_in_the_tree_is_refused_by_listings(ds_root, tmp_path):
    path = ds_root / "tensors" / "videos" / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        assert stat.S_ISSOCK(path.lstat().st_mode)
        with pytest.raises(UnsafeEntryError, match="is a socket"):
            LocalStore(ds_root).list("tensors/")
        assert_user_error(hubcli_run("create", str(ds_root), "--overwrite"), "is a socket")
        assert (ds_root / "versions").is_dir()  # nothing was removed
    finally:
        server.close()


def test_a_device_node_is_refused(ds_root):
    path = ds_root / "tensors" / "videos" / "chunks" / "dev"
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero
    except (PermissionError, OSError):
        pytest.skip("cannot create device nodes here")
    store = LocalStore(ds_root)
    with pytest.raises(UnsafeEntryError, match="is a device file"):
        store.get("tensors/videos/chunks/dev")
    with pytest.raises(UnsafeEntryError, match="is a device file"):
        store.delete("tensors/videos/chunks/dev")
    assert path.exists()


def test_store_operations_on_a_symlinked_key(tmp_path, outside):
    store = LocalStore(tmp_path / "root")
    store.put("a/b", b"mine")
    link = tmp_path / "root" / "a" / "c"
    link.symlink_to(outside / "notes.txt")
    for op in (
        lambda: store.get("a/c"),
        lambda: store.get_range("a/c", 0, 4),
        lambda: store.size("a/c"),
        lambda: store.delete("a/c"),
        lambda: store.list("a/"),
        lambda: store.exists("a/c"),
    ):
        with pytest.raises(UnsafeEntryError, match=r"a/c: is a symbolic link"):
            op()
    (tmp_path / "root" / "d").symlink_to(outside, target_is_directory=True)
    for op in (
        lambda: store.put("d/new", b"x"),
        lambda: store.put_if_absent("d/new", b"x"),
        lambda: store.get("d/notes.txt"),
        lambda: store.list("d/"),
        lambda: store.delete("d/notes.txt"),
    ):
        with pytest.raises(UnsafeEntryError, match=r"root/d: is a symbolic link"):
            op()
    assert sorted(p.name for p in outside.iterdir()) == ["notes.txt", "sub"]
    assert (outside / "notes.txt").read_text() == "precious\n"


def test_the_root_itself_may_be_a_symlink(tmp_path, corpus):
    """The user chose the path: a root reached through a link is fine."""
    real = tmp_path / "real"
    ds = hubcli.empty(real)
    ds.create_tensor("videos")
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    hubcli.load(tmp_path / "alias").videos.append(str(corpus["h264_bframes"]))
    assert len(hubcli.load(real).videos) == 1


def test_ranges_are_clamped_to_the_file(tmp_path):
    store = LocalStore(tmp_path)
    store.put("k", b"0123456789")
    assert store.get_ranges("k", [(2, 5), (8, 10**13), (10**19, 2**64 + 5)]) == [b"234", b"89", b""]


def test_a_local_link_to_a_fifo_is_refused_without_blocking(tmp_path, corpus):
    clip = tmp_path / "clip.mkv"
    clip.write_bytes(corpus["vp9_mkv"].read_bytes())
    ds = hubcli.empty(tmp_path / "links")
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(clip)))
    clip.unlink()
    os.mkfifo(clip)
    result = _no_hang(lambda: hubcli.load(tmp_path / "links").links[0, 0].numpy())
    assert "not a regular file" in str(result.get("error")), result


def test_a_local_link_swapped_after_its_check_is_never_read(tmp_path, corpus):
    """Same size and mtime: only the file's identity on disk tells the swap."""
    clip = tmp_path / "clip.mkv"
    data = corpus["vp9_mkv"].read_bytes()
    clip.write_bytes(data)
    ds = hubcli.empty(tmp_path / "links")
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(clip)))
    ds = hubcli.load(tmp_path / "links")
    assert ds.links[0, 0].numpy().shape[2] == 3  # identity checked, file pinned
    st = clip.stat()
    other = tmp_path / "other.mkv"
    other.write_bytes(bytes(len(data)))  # zeros, same size
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, clip)
    with pytest.raises(hubcli.errors.LinkChangedError, match="replaced since it was checked"):
        ds.links[0, -1].numpy()
