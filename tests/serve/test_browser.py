"""Playback in a real browser: Debian's Chromium, driven by Playwright (no browser
download). H.264 mp4 and VP9 mkv play directly, MPEG-4 Part 2 avi transcoded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import hubcli
from hubcli.serve.server import PlaybackServer
from support.media import BIG

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

PLAY_AND_SEEK = """
async () => {
  const v = document.getElementById('player');
  const until = (test, ms) => new Promise((ok, fail) => {
    const t0 = performance.now();
    const poll = () => test() ? ok()
      : (performance.now() - t0 > ms ? fail(new Error('timeout')) : setTimeout(poll, 20));
    poll();
  });
  await until(() => v.readyState >= 2 || v.error, 20000);
  if (v.error) return {error: v.error.code + ' ' + v.error.message};
  const ready = v.readyState;
  v.muted = true;
  await v.play();
  await until(() => v.currentTime > 0.3 || v.error, 20000);
  const played = v.currentTime;
  const seeked = new Promise(ok => v.addEventListener('seeked', ok, {once: true}));
  v.currentTime = v.duration / 2;
  await seeked;
  await until(() => v.readyState >= 2 || v.error, 20000);
  const error = v.error && (v.error.code + ' ' + v.error.message);
  return {error, ready, played, at: v.currentTime, duration: v.duration};
}
"""


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    assert executable, (
        "Debian's chromium is needed (scripts/test.sh installs it: apt-get install chromium)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, corpus, video):
    root = tmp_path_factory.mktemp("browser") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("mp4", sample_compression="mp4")
    ds.mp4.append(str(video(BIG)))  # 20 s of 720p: seeking to the middle needs new ranges
    ds.create_tensor("mkv", sample_compression="mkv")
    ds.mkv.append(str(corpus["vp9_mkv"]))
    ds.create_tensor("avi", sample_compression="avi")
    ds.avi.append(str(corpus["mpeg4_avi"]))
    with PlaybackServer(hubcli.load(root, read_only=True)) as running:
        yield running


@pytest.mark.parametrize(
    ("tensor", "mode"), [("mp4", "direct"), ("mkv", "direct"), ("avi", "transcode")]
)
def test_plays_and_seeks(browser, server, tensor, mode):
    assert server.library.mode(tensor, 0) == mode
    page = browser.new_page()
    page.goto(server.player_url(tensor, 0))
    state = page.evaluate(PLAY_AND_SEEK)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"player-{tensor}.png"))
    page.close()
    assert state["error"] is None, state
    assert state["ready"] >= 2 and state["played"] > 0.3
    assert abs(state["at"] - state["duration"] / 2) < 0.5
    ranges = [r for r in server.requests if r[1].endswith(f"/video/{tensor}/0") and r[2]]
    assert ranges and all(r[3] == 206 for r in ranges), server.requests
    if tensor == "mp4":  # seeking far into a large file asked for a range from the middle
        assert any(not r[2].startswith("bytes=0-") for r in ranges), ranges


def test_visualize_lists_every_sample(browser, server):
    page = browser.new_page()
    page.goto(server.url)
    page.wait_for_function(
        "[...document.images].every(i => i.complete && i.naturalWidth > 0)", timeout=30000
    )
    cards = page.eval_on_selector_all(
        ".sample", "els => els.map(e => e.dataset.tensor + '[' + e.dataset.index + ']')"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "visualize.png"), full_page=True)
    page.close()
    assert cards == ["mp4[0]", "mkv[0]", "avi[0]"]


def test_the_launch_file_leads_chromium_to_the_player(browser, server):
    """What `hubcli play` hands the browser: a private file:// page (no token in argv)
    that redirects to the sample's token URL, where the video plays."""
    url = server.player_url("mp4", 0)
    launch = server.launch_url(url)
    assert launch.startswith("file://") and url.split("/")[3] not in launch
    page = browser.new_page()
    page.goto(launch)
    page.wait_for_url(url, timeout=30000)
    state = page.evaluate(PLAY_AND_SEEK)
    page.close()
    assert state["error"] is None, state
    assert state["ready"] >= 2 and state["played"] > 0.3
