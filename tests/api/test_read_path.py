"""A read resolves its sample once and fetches ahead in its reader's threads, made once
(issue 16 §2), and ``hubcli.config`` / ``numpy(threads=)`` reach the decoder (§5)."""

from __future__ import annotations

import os
import pickle
import threading

import numpy as np
import pytest

import hubcli
from hubcli.core import packets as packets_mod
from hubcli.core.dataset import Dataset
from hubcli.core.lookup import SampleReader
from hubcli.core.versions import read_head
from hubcli.errors import HubcliError
from hubcli.settings import Settings
from hubcli.storage.local import LocalStore
from hubcli.video import decode
from support.stores import CountingStore

NAME = "h264_bframes"


@pytest.fixture
def ds(tmp_path, make_dataset) -> hubcli.Dataset:
    return make_dataset(tmp_path / "ds", {"videos": ["hevc", NAME]})


@pytest.fixture
def locates(monkeypatch) -> list[int]:
    """The index of every SampleReader.locate() call (the real lookup runs)."""
    calls: list[int] = []
    real = SampleReader.locate

    def counted(self, index):
        calls.append(index)
        return real(self, index)

    monkeypatch.setattr(SampleReader, "locate", counted)
    return calls


def test_a_frame_read_locates_its_sample_once(ds, corpus, oracle, locates):
    frame = ds.videos[1, 7].numpy()
    assert np.array_equal(frame, oracle(corpus[NAME]).frames[7])
    assert locates == [1]


def test_a_view_locates_once_for_all_it_reads(ds, corpus, oracle, locates):
    view = ds.videos[1, 2:9:3]
    assert view.shape[0] == 3
    frames = view.numpy()
    seconds = view.timestamp
    info = view.sample_info
    view[1].numpy()  # a view indexed from this one shares its lookup
    decoded = oracle(corpus[NAME])
    assert all(np.array_equal(f, decoded.frames[k]) for f, k in zip(frames, [2, 5, 8], strict=True))
    assert seconds.tolist() == [decoded.times[k] for k in (2, 5, 8)]
    assert info["shape"][0] == len(decoded.frames)
    assert locates == [1]


class _RemoteLike(CountingStore):
    """A local dataset read as a remote one would be: packets are fetched ahead."""

    remote = True


@pytest.fixture
def remote_ds(ds, monkeypatch) -> hubcli.Dataset:
    monkeypatch.setattr(packets_mod, "PACKET_BATCH_BYTES", 4000)  # many batches a read
    store = _RemoteLike(LocalStore(ds.path))
    return Dataset(store, read_head(store), read_only=True)


def _fetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hubcli-fetch")]


def test_reads_reuse_their_readers_fetch_threads(remote_ds, corpus, oracle):
    expected = np.stack(oracle(corpus[NAME]).frames[::2])
    seen: dict[int, threading.Thread] = {}  # kept alive, so no id is reused
    before = threading.active_count()
    for _ in range(4):
        assert np.array_equal(remote_ds.videos[1, ::2].numpy(), expected)
        seen.update((id(t), t) for t in _fetchers())
        assert threading.active_count() <= before + hubcli.config.read_ahead
    assert seen, "the reads did not fetch ahead"
    # One pool for every read: never more threads than one pool has.
    assert len(seen) <= hubcli.config.read_ahead
    pool = remote_ds.videos.reader().read_ahead.pool(hubcli.config.read_ahead)
    remote_ds.videos[1, 3].numpy()
    assert remote_ds.videos.reader().read_ahead.pool(hubcli.config.read_ahead) is pool


def test_reading_ahead_can_be_turned_off(remote_ds, corpus, oracle):
    before = set(_fetchers())  # idle threads of other tests' datasets, not yet collected
    with hubcli.config.override(read_ahead=0):
        frames = remote_ds.videos[1, ::2].numpy()
    assert np.array_equal(frames, np.stack(oracle(corpus[NAME]).frames[::2]))
    assert set(_fetchers()) <= before


def test_closing_a_dataset_ends_its_fetch_threads(remote_ds):
    others = set(_fetchers())  # idle threads of other tests' datasets, not yet collected
    with remote_ds:
        remote_ds.videos[1, ::2].numpy()
        mine = set(_fetchers()) - others
        assert mine
    for thread in mine:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert remote_ds.videos[1, 0].shape == remote_ds.videos[1, 1].shape  # still readable


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reads_with_its_own_fetch_threads(remote_ds, corpus, oracle):
    remote_ds.videos[1, ::2].numpy()  # the parent's pool exists (its threads do not fork)
    pool = remote_ds.videos.reader().read_ahead.pool(hubcli.config.read_ahead)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read, report, leave without running pytest's teardown
        code = 1
        try:
            os.close(read_end)
            frames = remote_ds.videos[1, ::2].numpy()
            new_pool = remote_ds.videos.reader().read_ahead.pool(hubcli.config.read_ahead)
            with os.fdopen(write_end, "wb") as out:
                pickle.dump((frames, new_pool is not pool), out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as got:
        frames, fresh = pickle.load(got)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fresh
    assert np.array_equal(frames, np.stack(oracle(corpus[NAME]).frames[::2]))


def test_numpy_threads_reach_the_decoder(ds, corpus, oracle, monkeypatch):
    opened: list[int] = []
    real = decode.open_decoder

    def recorded(params, threads=None):
        ctx = real(params, threads)
        opened.append(ctx.thread_count)
        return ctx

    monkeypatch.setattr(decode, "open_decoder", recorded)
    frame = ds.videos[1, 30].numpy(threads=2)
    with hubcli.config.override(decoder_threads=3):
        ds.videos[1, 30].numpy()
        ds.videos[1, 30].numpy(threads=1)
    assert np.array_equal(frame, oracle(corpus[NAME]).frames[30])
    assert opened == [2, 3, 1]


def test_settings_come_from_the_environment_and_are_checked():
    env = {"HUBCLI_DECODER_THREADS": "2", "HUBCLI_SKIP_NON_REFERENCE": "off"}
    settings = Settings.from_env(env)
    assert (settings.decoder_threads, settings.skip_non_reference) == (2, False)
    assert settings.read_ahead == Settings().read_ahead
    with pytest.raises(HubcliError, match="HUBCLI_READ_AHEAD"):
        Settings.from_env({"HUBCLI_READ_AHEAD": "many"})
    with pytest.raises(HubcliError, match="decoder_threads cannot be -1"):
        settings.decoder_threads = -1
    with settings.override(coalesce_gap=0):
        assert settings.coalesce_gap == 0
    assert settings.coalesce_gap is None
