"""SIGKILL at every step of compaction, gc, delete and rename (issue #14): then the
dataset loads, verifies, and shows the old version or the new one, never a mix, with
nothing lost."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

import hubcli
from hubcli.core.verify import verify
from support.crash import run_forked
from support.helpers import content


@pytest.fixture(scope="module")
def base(tmp_path_factory, clips):
    """Twelve one-sample commits and a removed sample: small segments to merge, a
    deletion vector to drop, versions to collect."""
    root = tmp_path_factory.mktemp("crash14") / "base"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    for i in range(12):
        ds.videos.append(clips[i % len(clips)])
    del ds.videos[4]
    return root


def _rename(ds):
    ds.rename_tensor("videos", "clips")


def _renamed(seen):
    return {"clips": seen["videos"]}


OPERATIONS = {
    "compact": (lambda ds: ds.compact(), lambda seen: seen),
    "gc": (lambda ds: ds.gc(keep_versions=1, safety_window=0), lambda seen: seen),
    "delete": (lambda ds: ds.videos.pop(2), lambda seen: {"videos": _without(seen, 2)}),
    "rename": (_rename, _renamed),
}


def _without(seen, index):
    samples = list(seen["videos"])
    del samples[index]
    return samples


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_kill_at_every_step(tmp_path, base, name):
    work, outcome = OPERATIONS[name]
    before = content(hubcli.load(base))
    after = outcome(before)
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    status, total = run_forked(lambda: work(hubcli.load(probe)), kill_at=-1)
    assert status == 0 and total > 2, (status, total)
    assert content(hubcli.load(probe)) == after
    seen = set()
    for k in range(total):
        root = tmp_path / f"k{k}"
        shutil.copytree(base, root)
        status, _ = run_forked(lambda root=root: work(hubcli.load(root)), kill_at=k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (k, status)
        ds = hubcli.load(root)
        report = verify(ds)
        assert report.ok, (k, report.problems)
        now = content(ds)
        assert now in (before, after), k
        seen.add(now == after)
        shutil.rmtree(root)
    if before != after:
        assert seen == {False, True}  # killed before the commit and after it
