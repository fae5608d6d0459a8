"""SIGKILL a writer at every step of its write path, and at random moments: the dataset
must open and hold the old samples or all the new ones, every one frame-exact."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time

import pytest

import hubcli
from hubcli.core.verify import verify
from support.clirun import HUBCLI
from support.crash import run_forked
from support.media import frame_hash

#: Kill points tried by this module (the issue asks for at least 200).
KILLS: list[int] = []


@pytest.fixture(scope="module")
def base(tmp_path_factory, corpus):
    """A dataset with one committed sample, copied afresh for every kill."""
    root = tmp_path_factory.mktemp("crash") / "base"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    return root


def _check(root, corpus, oracle, allowed: list[list[str]]) -> list[str]:
    """The dataset opens, holds one of the ``allowed`` sample lists, and reads exactly."""
    ds = hubcli.load(root)
    names = [s.sample_info["filename"] for s in ds.videos]
    assert names in allowed, names
    report = verify(ds)
    assert report.ok, report.problems
    for i, name in enumerate(names):
        key = next(k for k, p in corpus.items() if str(p) == name)
        expected = oracle(corpus[key]).hashes()
        got = ds.videos[i, [0, len(expected) // 2, -1]].numpy()
        assert [frame_hash(f) for f in got] == [
            expected[0],
            expected[len(expected) // 2],
            expected[-1],
        ]
    return names


def _kill_every_step(tmp_path, base, corpus, oracle, work, new):
    """Count the steps of ``work`` once, then kill it at each of them in turn."""
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    status, total = run_forked(lambda: work(probe), kill_at=-1)
    assert status == 0 and total > 5, (status, total)
    old = [str(corpus["h264_bframes"])]
    outcomes = set()
    for k in range(total):
        root = tmp_path / f"k{k}"
        shutil.copytree(base, root)
        status, _ = run_forked(lambda root=root: work(root), kill_at=k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (k, status)
        KILLS.append(k)
        outcomes.add(len(_check(root, corpus, oracle, [old, old + new])))
        shutil.rmtree(root)
    assert outcomes == {len(old), len(old + new)}, outcomes  # killed before and after the commit
    return total


def test_kill_at_every_step_of_an_extend(tmp_path, base, corpus, oracle, monkeypatch):
    monkeypatch.setattr("hubcli.core.ingest.CHUNK_TARGET_BYTES", 20_000)  # several chunks
    names = ("hevc", "audio", "fullrange_bt709", "vfr", "faststart", "h264_bframes_editlist")
    new = [str(corpus[n]) for n in names]

    def extend(root):
        hubcli.load(root).videos.extend(new)

    assert _kill_every_step(tmp_path, base, corpus, oracle, extend, new) >= 50


def test_kill_at_every_step_of_an_append_through_the_cli(tmp_path, base, corpus, oracle):
    new = [str(corpus[n]) for n in ("faststart", "vfr", "hevc", "audio", "fullrange_bt709")]

    def cli(root):
        from hubcli.cli import app

        app(["append", str(root), "videos", *new], standalone_mode=False)

    _kill_every_step(tmp_path, base, corpus, oracle, cli, new)


def test_kill_at_every_step_of_other_commits(tmp_path, base, corpus, oracle):
    for work in (
        lambda root: hubcli.load(root).create_tensor("more"),
        lambda root: hubcli.load(root).add_creds_key("KEY"),
    ):
        probe = tmp_path / "probe"
        shutil.copytree(base, probe)
        _, total = run_forked(lambda probe=probe, work=work: work(probe), kill_at=-1)
        for k in range(total):
            root = tmp_path / f"o{k}"
            shutil.copytree(base, root)
            run_forked(lambda root=root, work=work: work(root), kill_at=k)
            KILLS.append(k)
            _check(root, corpus, oracle, [[str(corpus["h264_bframes"])]])
            shutil.rmtree(root)
        shutil.rmtree(probe)


def test_kill_at_every_step_of_linking(tmp_path, corpus):
    base = tmp_path / "links-base"
    ds = hubcli.empty(base)
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(corpus["vp9_mkv"])))
    new = [hubcli.link(str(corpus[n])) for n in ("h264_open_gop", "mpeg4_avi", "av1")]
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    _, total = run_forked(lambda: hubcli.load(probe).links.extend(new), kill_at=-1)
    outcomes = set()
    for k in range(total):
        root = tmp_path / f"l{k}"
        shutil.copytree(base, root)
        run_forked(lambda root=root: hubcli.load(root).links.extend(new), kill_at=k)
        KILLS.append(k)
        linked = hubcli.load(root)
        assert verify(linked).ok
        outcomes.add(len(linked.links))
        assert linked.links[0, -1].numpy().shape == (64, 96, 3)
        shutil.rmtree(root)
    assert outcomes == {1, 4}


def test_sigkill_hubcli_append_at_random_moments(tmp_path, base, corpus, oracle):
    """The real executable, killed by the clock: 70 moments over the span of an append."""
    new = [str(corpus[n]) for n in ("hevc", "audio", "faststart")]
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    start = time.monotonic()
    subprocess.run([HUBCLI, "append", str(probe), "videos", *new], check=True, capture_output=True)
    span = time.monotonic() - start
    rng = random.Random(20261125)
    old = [str(corpus["h264_bframes"])]
    for n in range(70):
        root = tmp_path / f"t{n}"
        shutil.copytree(base, root)
        proc = subprocess.Popen(
            [HUBCLI, "append", str(root), "videos", *new],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, span * 1.1))
        proc.kill()
        proc.wait()
        KILLS.append(n)
        _check(root, corpus, oracle, [old, old + new])
        shutil.rmtree(root)


_EXTEND = "import sys, hubcli; hubcli.load(sys.argv[1]).videos.extend(sys.argv[2:])"


def test_sigkill_a_python_extend_at_random_moments(tmp_path, base, corpus, oracle):
    import sys

    new = [str(corpus[n]) for n in ("vfr", "fullrange_bt709", "h264_bframes_editlist")]
    command = [sys.executable, "-c", _EXTEND]
    start = time.monotonic()
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    subprocess.run([*command, str(probe), *new], check=True, capture_output=True)
    span = time.monotonic() - start
    rng = random.Random(11)
    old = [str(corpus["h264_bframes"])]
    for n in range(45):
        root = tmp_path / f"p{n}"
        shutil.copytree(base, root)
        proc = subprocess.Popen(
            [*command, str(root), *new], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(span * 0.3, span * 1.05))  # past the interpreter's start-up
        proc.kill()
        proc.wait()
        KILLS.append(n)
        _check(root, corpus, oracle, [old, old + new])
        shutil.rmtree(root)


def test_at_least_200_kill_points():
    assert len(KILLS) >= 200, len(KILLS)
    print(f"\nkill points tried: {len(KILLS)}")
