"""Issue 13, "Weak": link errors must not disclose anything about objects the user did
not ask for. A link identity error printed the size and ETag/mtime of the object now at
the linked URL: a hostile dataset linking ``/etc/shadow`` (or any object the victim's
keys reach) made the victim's ``hubcli export`` print its size and modification time.
The error now says only that the object changed.
"""

from __future__ import annotations

import re
import shutil

import pytest

import hubcli
from hubcli.errors import LinkChangedError
from support.clirun import assert_user_error, hubcli_run


@pytest.fixture
def linked(tmp_path, corpus):
    """A dataset linking a local video, then a different file put at the linked path
    (as a hostile dataset's link to a private file of the reader would be)."""
    target = tmp_path / "linked.mp4"
    shutil.copyfile(corpus["h264_bframes"], target)
    ds = hubcli.empty(tmp_path / "ds")
    ds.create_tensor("links", htype="link[video]")
    ds.links.append(hubcli.link(str(target)))
    then = target.stat()
    target.write_bytes(b"root:$6$private-hash:19000:0:99999:7:::\n" * 3)
    now = target.stat()
    assert now.st_size != then.st_size
    return ds, then, now


def _disclosed(text: str, then, now) -> list[str]:
    numbers = {str(n) for st in (then, now) for n in (st.st_size, st.st_mtime_ns)}
    found = [n for n in numbers if re.search(rf"(?<!\d){n}(?!\d)", text)]
    return found + [w for w in ("size", "etag", "mtime", "->") if w in text.lower()]


def test_a_changed_link_error_says_only_that_it_changed(linked, tmp_path):
    ds, then, now = linked
    with pytest.raises(LinkChangedError) as caught:
        hubcli.load(ds.path).links[0, 0].numpy()
    message = str(caught.value)
    assert message == (
        f"{tmp_path / 'linked.mp4'} (sample 0 of 'links') changed since it was appended; "
        "append it again to index the new version"
    )
    assert _disclosed(message, then, now) == []

    run = hubcli_run("export", ds.path, "links[0, 0]", "-o", str(tmp_path / "f.npy"))
    assert_user_error(run, "changed since it was appended")
    assert _disclosed(run.stderr, then, now) == []
    assert not (tmp_path / "f.npy").exists()
