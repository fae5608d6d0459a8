"""Issue 13 point 3: the playback token never reaches any process's argv or environment
(the browser gets a private launch file), and a play token opens its sample only."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from serve_helpers import NOBODY, can_switch_user, get, token_of, wait_for

import hubcli
from hubcli.serve.server import PlaybackServer
from support.clirun import HUBCLI

#: A "browser" as $BROWSER names one: records its argv and environment, and leaves a
#: child with the same argv running (as a real browser would), for `ps` to see.
FAKE_BROWSER = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys, time
    out = os.environ["FAKE_BROWSER_OUT"]
    pid = os.fork()
    if pid == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # let go of hubcli's pipes
            os.dup2(null, fd)
        time.sleep(300)
        os._exit(0)
    with open(os.path.join(out, "seen.json.tmp"), "w") as f:
        json.dump({{"argv": sys.argv, "environ": dict(os.environ), "child": pid}}, f)
    os.rename(os.path.join(out, "seen.json.tmp"), os.path.join(out, "seen.json"))
    """
)
TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{20,}")


@pytest.fixture(scope="module")
def root(tmp_path_factory, make_dataset):
    root = tmp_path_factory.mktemp("token") / "ds"
    make_dataset(
        root,
        {
            "videos": ("mp4", ["h264_bframes", "h264_bframes_editlist"]),
            "clips": ("mkv", ["vp9_mkv"]),
        },
    )
    return root


@pytest.fixture
def fake_browser(tmp_path):
    script = tmp_path / "browser.py"
    script.write_text(FAKE_BROWSER.format(python=sys.executable))
    script.chmod(0o755)
    out = tmp_path / "seen"
    out.mkdir()
    yield script, out
    seen = out / "seen.json"
    if seen.exists():  # the child this test's browser left running
        with contextlib.suppress(ProcessLookupError):
            os.kill(json.loads(seen.read_text())["child"], signal.SIGKILL)


def _proc_text(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def test_cli_play_hands_the_browser_no_token(root, fake_browser):
    script, out = fake_browser
    env = {**os.environ, "BROWSER": str(script), "FAKE_BROWSER_OUT": str(out)}
    env.pop("HUBCLI_NO_BROWSER", None)
    proc = subprocess.Popen(
        [HUBCLI, "play", str(root), "videos[1]"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = proc.stdout.readline().strip()  # stdout is the user's: it may show the token
        token = token_of(url)
        wait_for((out / "seen.json").exists, what="the browser to start")
        seen = json.loads((out / "seen.json").read_text())
        # The browser got a private file, not the token; nor is it in any environment.
        (launch,) = seen["argv"][1:]
        assert launch.startswith("file://") and token not in launch
        assert not any(token in value for value in seen["environ"].values())
        for pid in (proc.pid, seen["child"]):
            assert token not in _proc_text(pid, "cmdline")
            assert token not in _proc_text(pid, "environ")
        # The launch file: this user's only, and it sends the browser on to the URL.
        path = Path(urlsplit(launch).path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.stat().st_uid == os.getuid()
        assert url in path.read_text()
        _second_user_finds_nothing(url, token, path)
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert not path.exists()  # removed when the server stopped


def _second_user_finds_nothing(url: str, token: str, launch: Path) -> None:
    """Another local user lists every process's arguments and tries whatever might be a
    token; and cannot read the launch file."""
    if not can_switch_user():
        pytest.skip("cannot switch to another user (setpriv --reuid=65534)")
    listing = subprocess.run(
        [*NOBODY, "ps", "-eo", "args"], capture_output=True, text=True, check=True
    ).stdout
    assert token not in listing
    origin = url.split(f"/{token}/")[0]
    candidates = set(TOKEN_LIKE.findall(listing))
    assert candidates  # the search saw the processes' arguments at all
    for word in candidates:
        for rest in ("", "play/videos/1", "video/videos/1"):
            try:
                with urllib.request.urlopen(f"{origin}/{word}/{rest}", timeout=30) as answer:
                    status = answer.status
            except urllib.error.HTTPError as refused:
                status = refused.code
                refused.close()
            assert status in (403, 404), word
    read = subprocess.run([*NOBODY, "cat", str(launch)], capture_output=True)
    assert read.returncode != 0 and token.encode() not in read.stdout


@pytest.fixture(scope="module")
def server(root):
    with PlaybackServer(hubcli.load(root, read_only=True)) as running:
        yield running


def test_a_play_token_opens_only_its_sample(server):
    url = server.player_url("videos", 1)
    token = token_of(url)
    assert token != server.token
    for rest in ("play/videos/1", "video/videos/1", "thumb/videos/1.png"):
        response, _ = get(server, f"/{token}/{rest}")
        assert response.status == 200, rest
    for rest in (
        "",
        "?start=0",
        "play/videos/0",
        "video/videos/0",
        "thumb/videos/0.png",
        "play/clips/0",
        "video/clips/0",
    ):
        response, body = get(server, f"/{token}/{rest}")
        assert response.status == 403, rest
        assert b"ftyp" not in body and b"<video" not in body
    _, page = get(server, f"/{token}/play/videos/1")
    assert f"/{token}/'".encode() not in page and b"whole dataset" not in page


def test_the_dataset_token_opens_everything(server):
    for rest in ("", "play/videos/0", "video/clips/0", "thumb/videos/1.png"):
        response, _ = get(server, f"/{server.token}/{rest}")
        assert response.status == 200, rest


def test_cli_play_prints_a_scoped_url(root):
    proc = subprocess.Popen(
        [HUBCLI, "play", str(root), "videos[1]", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        origin, token = url.split("/play/")[0].rsplit("/", 1)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert b"<video" in page.read()
        for rest in ("", "video/videos/0", "video/clips/0"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{origin}/{token}/{rest}", timeout=30)
            refused.value.close()
            assert refused.value.code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_python_play_and_visualize_open_launch_files(root, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    monkeypatch.delenv("HUBCLI_NO_BROWSER", raising=False)
    from hubcli.serve.player import stop_all

    ds = hubcli.load(root, read_only=True)
    try:
        url = ds.videos[0].play()
        page = ds.visualize()
        assert [o.startswith("file://") for o in opened] == [True, True]
        files = [Path(urlsplit(o).path) for o in opened]
        assert url in files[0].read_text() and page in files[1].read_text()
        assert token_of(url) != token_of(page) and "/play/videos/0" in url
        assert not any(token_of(u) in o for o in opened for u in (url, page))
    finally:
        stop_all()
    assert not any(f.exists() for f in files)
