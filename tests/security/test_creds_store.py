"""Issue 13 point 7 and the managed-key item of "Weak": the per-user credential store.

Attacks reproduced: two processes populating keys at once lost entries (53 and 64 of
100 kept); a symlinked store file or folder made hubcli write the secrets where the link
pointed (another user's folder); a store readable by others was used silently; and a
managed key was bound only to the dataset id, which any copy of the dataset shows, so a
hostile copy elsewhere got the owner's secrets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import hubcli
from hubcli.errors import CredentialsError, HubcliWarning
from support.clirun import assert_user_error, hubcli_run

SECRET = "store-secret-TEST-7"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _creds(name: str = "") -> dict[str, str]:
    return {"aws_access_key_id": f"id-{name}", "aws_secret_access_key": f"{SECRET}-{name}"}


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def store(config_home):
    return config_home / "hubcli" / "credentials.json"


@pytest.fixture
def lake_ds(tmp_path, config_home):
    ds = hubcli.empty(tmp_path / "ds")
    ds.add_creds_key("LAKE", managed=True)
    return ds


def _private_folder(store: Path) -> None:
    store.parent.mkdir(parents=True, mode=0o700)
    store.parent.chmod(0o700)


def _tree(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``path`` with its mode and bytes: equal means untouched."""
    return {
        str(p.relative_to(path)): (
            p.lstat().st_mode,
            p.read_bytes() if p.is_file() and not p.is_symlink() else b"",
        )
        for p in sorted(path.rglob("*"))
    }


# --- concurrent writers ----------------------------------------------------------------------

_POPULATE = textwrap.dedent(
    """
    import sys, time, pathlib, hubcli
    ds_path, go, names = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
    ds = hubcli.load(ds_path)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for name in names:
        ds.populate_creds(name, {"aws_access_key_id": "id-" + name,
                                 "aws_secret_access_key": "secret-" + name})
    """
)


def test_two_processes_populating_at_once_keep_every_entry(tmp_path, config_home):
    ds = hubcli.empty(tmp_path / "ds")
    names = [f"K{i:03d}" for i in range(100)]
    for name in names:
        ds.add_creds_key(name, managed=True)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _POPULATE, str(tmp_path / "ds"), str(go), *part],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in (names[0::2], names[1::2])
    ]
    for proc in procs:  # both loaded: start them together
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    go.touch()
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    fresh = hubcli.load(tmp_path / "ds")
    assert sum(k["populated"] for k in fresh.creds_keys) == 100
    for name in names:
        secrets, _ = fresh.secrets_for(name)
        assert secrets == {
            "aws_access_key_id": f"id-{name}",
            "aws_secret_access_key": f"secret-{name}",
        }
    folder = config_home / "hubcli"
    assert sorted(p.name for p in folder.iterdir()) == ["credentials.json", "credentials.json.lock"]


# --- links and loose permissions --------------------------------------------------------------


def test_a_symlinked_store_file_is_refused(lake_ds, store, tmp_path):
    _private_folder(store)
    target = tmp_path / "elsewhere" / "target.json"
    target.parent.mkdir()
    target.write_text("untouched\n")
    store.symlink_to(target)
    before = _tree(tmp_path / "elsewhere")
    with pytest.raises(CredentialsError, match=f"{store} is a symbolic link"):
        lake_ds.populate_creds("LAKE", _creds())
    assert _tree(tmp_path / "elsewhere") == before
    assert store.is_symlink()
    run = hubcli_run("creds", "list", lake_ds.path)
    assert_user_error(run, f"refusing the credential store: {store} is a symbolic link")


def test_a_symlinked_store_folder_is_refused(lake_ds, store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    store.parent.parent.mkdir()
    store.parent.symlink_to(elsewhere)
    before = _tree(elsewhere)
    with pytest.raises(CredentialsError, match=f"{store.parent} is a symbolic link"):
        lake_ds.populate_creds("LAKE", _creds())
    assert _tree(elsewhere) == before and stat.S_IMODE(elsewhere.stat().st_mode) == 0o755


@pytest.fixture
def shared_config():
    """A config folder every local user can write (mode 1777, as /tmp is): the attacker,
    a second user, plants a link where the victim's store folder goes."""
    path = Path(tempfile.mkdtemp(prefix="hubcli-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_second_user_cannot_redirect_the_store(tmp_path, shared_config, monkeypatch):
    loot = shared_config / "loot"
    plant = f"mkdir {loot} && chmod 777 {loot} && ln -s {loot} {shared_config / 'hubcli'}"
    try:
        subprocess.run([*NOBODY, "sh", "-c", plant], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot act as a second user here: {exc}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(shared_config))
    ds = hubcli.empty(tmp_path / "ds")
    ds.add_creds_key("LAKE", managed=True)
    with pytest.raises(CredentialsError, match="is a symbolic link"):
        ds.populate_creds("LAKE", _creds())
    assert list(loot.iterdir()) == []  # no secrets in the attacker's folder
    assert stat.S_IMODE(loot.stat().st_mode) == 0o777 and loot.stat().st_uid == 65534


@pytest.mark.parametrize(
    ("which", "mode", "fix"),
    [("file", 0o644, "chmod 600"), ("file", 0o660, "chmod 600"), ("folder", 0o755, "chmod 700")],
)
def test_a_store_open_to_other_users_is_refused(lake_ds, store, which, mode, fix):
    lake_ds.populate_creds("LAKE", _creds())
    path = store if which == "file" else store.parent
    path.chmod(mode)
    content = store.read_bytes()
    message = f"refusing the credential store: {path} is open to other users (mode {mode:o})"
    for call in (
        lambda: hubcli.load(lake_ds.path).creds_keys,
        lambda: lake_ds.populate_creds("LAKE", _creds("2")),
    ):
        with pytest.raises(CredentialsError, match=re.escape(f"{message}; run: {fix} {path}")):
            call()
    assert store.read_bytes() == content and stat.S_IMODE(path.stat().st_mode) == mode
    run = hubcli_run("creds", "list", lake_ds.path)
    assert_user_error(run, message)
    assert SECRET not in run.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_store_owned_by_another_user_is_refused(lake_ds, store):
    lake_ds.populate_creds("LAKE", _creds())
    os.chown(store, 65534, 65534)
    with pytest.raises(CredentialsError, match=f"{store} belongs to another user \\(uid 65534\\)"):
        hubcli.load(lake_ds.path).secrets_for("LAKE")


def test_the_store_is_private_and_replaced_whole(lake_ds, store):
    lake_ds.populate_creds("LAKE", _creds())
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    lock = store.with_name("credentials.json.lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert not [p for p in store.parent.iterdir() if p.name.endswith(".partial")]
    data = json.loads(store.read_text())
    assert data["version"] == 2


# --- bound to the dataset's location --------------------------------------------------------


def test_a_copy_elsewhere_does_not_get_the_owners_secrets(tmp_path, config_home):
    owner = hubcli.empty(tmp_path / "mine")
    owner.add_creds_key("LAKE", managed=True)
    owner.populate_creds("LAKE", _creds())
    shutil.copytree(tmp_path / "mine", tmp_path / "hostile")  # same dataset_id
    hostile = hubcli.load(tmp_path / "hostile")
    assert hostile.manifest.dataset_id == owner.manifest.dataset_id
    where = os.path.realpath(tmp_path / "hostile")
    assert hostile.creds_keys == [
        {"name": "LAKE", "managed": True, "populated": False, "bound_to": where}
    ]
    with pytest.raises(CredentialsError, match=f"creds key 'LAKE' is not populated for {where}"):
        hostile.secrets_for("LAKE")
    mine = hubcli.load(tmp_path / "mine")
    assert mine.secrets_for("LAKE") == (_creds(), False)
    listing = hubcli_run("creds", "list", str(tmp_path / "mine"), "--json")
    assert listing.json() == {
        "keys": [
            {
                "name": "LAKE",
                "managed": True,
                "populated": True,
                "bound_to": os.path.realpath(tmp_path / "mine"),
            }
        ]
    }
    table = hubcli_run("creds", "list", str(tmp_path / "hostile"))
    assert table.code == 0 and where in table.stdout and "bound to" in table.stdout


def test_a_version_1_store_is_not_trusted(lake_ds, store):
    """hubcli 0.2 stored secrets by dataset id only: they are not used (a warning says
    so), and the next write replaces the store with the version 2 layout."""
    _private_folder(store)
    old = {"version": 1, "datasets": {lake_ds.manifest.dataset_id: {"LAKE": _creds("old")}}}
    fd = os.open(store, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(old, f)
    with pytest.warns(HubcliWarning, match="written by hubcli 0.2: its secrets are not bound"):
        assert lake_ds.creds_keys[0]["populated"] is False
    with pytest.warns(HubcliWarning, match="populate the managed keys again"):
        lake_ds.populate_creds("LAKE", _creds("new"))
    data = json.loads(store.read_text())
    location = os.path.realpath(lake_ds.path)
    assert data == {
        "version": 2,
        "datasets": {lake_ds.manifest.dataset_id: {location: {"LAKE": _creds("new")}}},
    }
    assert hubcli.load(lake_ds.path).secrets_for("LAKE") == (_creds("new"), False)


def test_a_store_of_a_newer_hubcli_is_refused(lake_ds, store):
    _private_folder(store)
    fd = os.open(store, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": 3, "datasets": {}}, f)
    with pytest.raises(CredentialsError, match="has version 3; this hubcli reads version 2"):
        lake_ds.populate_creds("LAKE", _creds())
    assert json.loads(store.read_text())["version"] == 3


def test_a_fifo_in_place_of_the_store_does_not_hang(lake_ds, store):
    _private_folder(store)
    os.mkfifo(store, 0o600)
    start = time.monotonic()
    with pytest.raises(CredentialsError, match=f"{store} is not a regular file"):
        lake_ds.populate_creds("LAKE", _creds())
    assert time.monotonic() - start < 5
