"""Session fixtures: a corpus of videos encoded by PyAV at test time, and their oracles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hubcli
from support.media import CORPUS, Decoded, VideoSpec, decode_all, make_video

# Encoders print banners (SVT-AV1) and x265 notes to stderr; keep FFmpeg quiet.
os.environ.setdefault("AV_LOG_FORCE_NOCOLOR", "1")


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="session")
def video(corpus_dir: Path) -> Callable[[VideoSpec], Path]:
    """Encode a spec once per session and return its path."""
    made: dict[VideoSpec, Path] = {}

    def get(spec: VideoSpec) -> Path:
        if spec not in made:
            made[spec] = make_video(spec, corpus_dir / spec.filename)
        return made[spec]

    return get


@pytest.fixture(scope="session")
def corpus(video: Callable[[VideoSpec], Path]) -> dict[str, Path]:
    return {spec.name: video(spec) for spec in CORPUS}


@pytest.fixture(scope="session")
def oracle() -> Callable[[Path], Decoded]:
    cache: dict[Path, Decoded] = {}

    def get(path: Path) -> Decoded:
        if path not in cache:
            cache[path] = decode_all(path)
        return cache[path]

    return get


# --- real servers (tests/servers.py), started once per session -------------------------

import secrets  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from support.servers import FakeGcs, FileServer, MotoS3, Proxy  # noqa: E402
from testkit.env import patched_env, s3_env  # noqa: E402

#: The keys the tests' S3 server is reached with (moto accepts any).
S3_KEYS = ("hubcli-test-key", "hubcli-test-secret")


@dataclass
class RemoteService:
    """A running object store: ``scheme`` (s3 or gcs), the proxy in front of it (s3),
    and ``new_bucket()`` for an isolated bucket per test."""

    scheme: str
    fs: object
    proxy: Proxy | None = None

    def new_bucket(self) -> str:
        name = f"hubcli-{secrets.token_hex(6)}"
        self.fs.mkdir(name)  # type: ignore[attr-defined]
        return name

    def keys(self, bucket: str) -> dict[str, int]:
        """Every object of the bucket with its size: equal before and after = unchanged."""
        found = self.fs.find(bucket, detail=True)  # type: ignore[attr-defined]
        return {path: info["size"] for path, info in sorted(found.items())}


@pytest.fixture(scope="session")
def s3() -> Iterator[RemoteService]:
    """moto S3 behind a counting, fault-injecting proxy; the environment points at it,
    as a user's would (AWS_ENDPOINT_URL and keys)."""
    server = MotoS3()
    proxy = Proxy(server.url)
    with patched_env(s3_env(proxy.url, *S3_KEYS)):
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        yield RemoteService("s3", fs, proxy)
    proxy.stop()
    server.stop()


@pytest.fixture(scope="session")
def gcs() -> Iterator[RemoteService]:
    """fake-gcs-server, reached through STORAGE_EMULATOR_HOST."""
    server = FakeGcs()
    emulator = {"STORAGE_EMULATOR_HOST": server.url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    with patched_env(emulator):
        import gcsfs

        fs = gcsfs.GCSFileSystem(skip_instance_cache=True, use_listings_cache=False)
        yield RemoteService("gcs", fs)
    server.stop()


@pytest.fixture(scope="session")
def make_dataset(corpus: dict[str, Path]) -> Callable[..., hubcli.Dataset]:
    """The one way tests make a dataset of videos: ``make_dataset(root, {"videos":
    ["hevc", "h264_bframes"], "old": ("avi", ["mpeg4_avi"])})`` creates each tensor
    (with its container, if given) and appends those corpus videos in one extend."""

    def make(root: Path | str, tensors: dict[str, Any]) -> hubcli.Dataset:
        ds = hubcli.empty(root)
        for name, spec in tensors.items():
            compression, names = spec if isinstance(spec, tuple) else (None, spec)
            ds.create_tensor(name, sample_compression=compression)
            if names:
                ds[name].extend([str(corpus[n]) for n in names])
        return ds

    return make


#: Fixtures that start a server: a test using one is marked ``remote``.
REMOTE_FIXTURES = {"s3", "gcs", "http_corpus"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tiers by what a test needs, so that a developer can run the fast tier alone:
    ``scripts/test.sh -m "not slow and not remote and not browser"`` (README)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        path = str(item.path)
        if fixtures & REMOTE_FIXTURES or "/tests/remote/" in path:
            item.add_marker(pytest.mark.remote)
        if path.endswith("test_browser.py"):
            item.add_marker(pytest.mark.browser)
        if "/tests/torch/" in path:
            item.add_marker(pytest.mark.torch)
        if "/tests/ray/" in path:
            item.add_marker(pytest.mark.ray)


@pytest.fixture(autouse=True)
def _reset_proxy(request: pytest.FixtureRequest) -> None:
    """Each test starts with an empty proxy log and no faults."""
    if "s3" in request.fixturenames:
        service = request.getfixturevalue("s3")
        assert service.proxy is not None
        service.proxy.reset()


@pytest.fixture(scope="session")
def http_corpus(corpus, tmp_path_factory) -> Iterator[tuple[FileServer, FileServer]]:
    """The corpus over HTTP: one server honouring Range, one ignoring it."""
    root = tmp_path_factory.mktemp("http")
    for path in corpus.values():
        (root / path.name).write_bytes(path.read_bytes())
    (root / "notes.mp4").write_text("not a video\n" * 200)
    with_ranges, without = FileServer(root, ranges=True), FileServer(root, ranges=False)
    yield with_ranges, without
    with_ranges.stop()
    without.stop()
