"""Label tensors on the pages (issue 17): each video card and the player page show the
labels of the video's row, escaped as text; a label tensor has nothing to play."""

from __future__ import annotations

import http.client
from html import escape
from urllib.parse import urlsplit

import pytest

import hubcli
from hubcli.serve.server import PlaybackServer

HOSTILE = "<script>alert(1)</script> & 'quoted'"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("serve_labels") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.create_tensor("labels", htype="class_label", class_names=["cat", "dog"])
    ds.create_tensor("captions", htype="text")
    ds.extend(
        {
            "videos": [str(corpus["h264_bframes"]), str(corpus["hevc"])],
            "labels": ["dog", ["cat", "dog"]],
            "captions": ["a first clip", HOSTILE],
        }
    )
    with PlaybackServer(hubcli.load(root, read_only=True)) as server:
        yield server


def _get(server, url):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def _card(page: str, index: int) -> str:
    start = page.index(f"id='videos-{index}'")
    end = page.find("<div class='sample'", start)
    return page[start : end if end > 0 else len(page)]


def test_cards_show_their_rows_labels(labelled):
    status, page = _get(labelled, labelled.url)
    assert status == 200
    first, second = _card(page, 0), _card(page, 1)
    assert "<td>labels</td><td>dog</td>" in first and "a first clip" in first
    assert "<td>labels</td><td>cat, dog</td>" in second
    assert escape(HOSTILE) in second and HOSTILE not in page  # text, never markup
    assert "labels <small>(class_label, 2 samples)</small>" in page


def test_the_player_shows_its_rows_labels(labelled):
    status, page = _get(labelled, labelled.player_url("videos", 1))
    assert status == 200
    assert "<td>labels</td><td>cat, dog</td>" in page and escape(HOSTILE) in page
    for kind in ("play", "video", "thumb"):  # a label has nothing to play: not found
        suffix = ".png" if kind == "thumb" else ""
        status, _ = _get(labelled, f"{labelled.url.rstrip('/')}/{kind}/labels/0{suffix}")
        assert status == 404, kind
