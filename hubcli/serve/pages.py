"""The HTML pages of the playback server: plain HTML and CSS, shipped in the package,
nothing loaded from the internet."""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fafafa; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.samples { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }
.sample { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .75rem; }
.sample video { width: 100%; background: #000; border-radius: 4px; }
.sample img { width: 96px; float: right; margin-left: .5rem; border: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 12px; }
td { padding: 1px 6px 1px 0; vertical-align: top; }
td:first-child { color: #666; } .mode { font-size: 11px; color: #666; }
table.labels { font-size: 13px; margin: .25rem 0; } table.labels td:last-child { font-weight: 600; }
nav a { margin-right: 1rem; }
"""


def page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    ).encode()


def info_table(info: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(key))}</td><td>{escape(str(value))}</td></tr>"
        for key, value in info.items()
    )
    return f"<table>{rows}</table>"


def labels_table(labels: dict[str, str]) -> str:
    """The row's labels (class names, text, json) beside its video."""
    if not labels:
        return ""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(text)}</td></tr>" for name, text in labels.items()
    )
    return f"<table class='labels'>{rows}</table>"


def sample_card(
    base: str,
    tensor: str,
    index: int,
    info: dict[str, Any],
    mode: str,
    labels: dict[str, str] | None = None,
) -> str:
    video = f"{base}/video/{tensor}/{index}"
    return (
        f"<div class='sample' id='{escape(tensor)}-{index}' "
        f"data-tensor='{escape(tensor)}' data-index='{index}'>"
        f"<img alt='first frame' loading='lazy' src='{base}/thumb/{escape(tensor)}/{index}.png'>"
        f"<b>{escape(tensor)}[{index}]</b> <span class='mode'>{escape(mode)}</span>"
        f"{labels_table(labels or {})}{info_table(_short(info))}"
        f"<video controls preload='metadata' src='{escape(video)}'></video>"
        f"<div><a href='{base}/play/{escape(tensor)}/{index}'>open</a></div></div>"
    )


def _short(info: dict[str, Any]) -> dict[str, Any]:
    seconds = info["duration"] * info["timebase"]
    return {
        "frames": info["shape"][0],
        "size": f"{info['shape'][2]}x{info['shape'][1]}",
        "fps": f"{info['fps']:.3f}",
        "seconds": f"{seconds:.2f}",
        "codec": f"{info['codec']} ({info['pix_fmt']}) in {info['format']}",
        "file": info.get("url") or info["filename"],
    }


def dataset_page(base: str, title: str, tensors: list[dict[str, Any]]) -> bytes:
    """``tensors``: name, htype, length, start, cards (html), prev/next links; label
    tensors are listed, their values shown on the cards of their rows."""
    parts = [f"<h1>{escape(title)}</h1>"]
    for t in tensors:
        parts.append(
            f"<h2 id='tensor-{escape(t['name'])}'>{escape(t['name'])} "
            f"<small>({escape(t['htype'])}, {t['length']} samples)</small></h2>"
        )
        nav = "".join(f"<a href='{escape(href)}'>{escape(label)}</a>" for label, href in t["nav"])
        parts.append(f"<nav>{nav}</nav><div class='samples'>{''.join(t['cards'])}</div>")
    return page(title, "".join(parts))


def player_page(
    base: str,
    tensor: str,
    index: int,
    info: dict[str, Any],
    mode: str,
    whole: bool,
    labels: dict[str, str] | None = None,
) -> bytes:
    """One sample's player, with its row's labels; ``whole``: the token also opens the
    dataset page, so link it."""
    back = f"<p><a href='{base}/'>whole dataset</a></p>" if whole else ""
    body = (
        f"<h1>{escape(tensor)}[{index}]</h1>"
        f"<video id='player' controls autoplay muted style='max-width:100%' "
        f"src='{escape(f'{base}/video/{tensor}/{index}')}'></video>"
        f"{labels_table(labels or {})}"
        f"<p class='mode'>{escape(mode)}</p>{info_table(info)}{back}"
    )
    return page(f"{tensor}[{index}]", body)


def redirect_page(url: str) -> bytes:
    """The launch file handed to the browser instead of ``url`` (whose token must stay
    out of every process's argv): it sends the browser on to ``url`` at once."""
    script = json.dumps(url).replace("<", "\\u003c")  # nothing can close the script
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<meta http-equiv='refresh' content='0; url={escape(url)}'>"
        "<title>hubcli</title></head><body>"
        f"<script>location.replace({script})</script>"
        f"<p><a href='{escape(url)}'>open the player</a></p></body></html>"
    ).encode()
