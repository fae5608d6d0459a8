"""Rough edges of the command line found by a new user and a CI script (issue 15): empty
source lists, options after the command, JSON errors, whole values in pipes, per-file
progress, credentials commands, and the wording of messages."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import hubcli
from hubcli.cli import app
from hubcli.cli.catalog import load_all
from hubcli.cli.output import human_bytes
from support.clirun import hubcli_run
from support.helpers import snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def invoke(*args, input=None, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def one_json_error(result, code, kind):
    """Exit ``code``, nothing on stdout, one JSON line on stderr of type ``kind``."""
    assert result.exit_code == code and isinstance(result.exception, SystemExit), result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    error = json.loads(result.stderr)["error"]
    assert set(error) == {"type", "message", "hint"} and error["type"] == kind, error
    return error


@pytest.fixture
def empty_ds(tmp_path):
    root = tmp_path / "ds"
    hubcli.empty(root).create_tensor("videos")
    return root


@pytest.fixture
def store_home(tmp_path, monkeypatch):
    """A private credential store for this test (XDG_CONFIG_HOME)."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home / "hubcli" / "credentials.json"


# --- --from-file -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["stdin", "file"])
def test_an_empty_source_list_appends_nothing_and_succeeds(empty_ds, tmp_path, where):
    text = "# nothing new today\n\n   \r\n# end\n"
    listing = tmp_path / "list.txt"
    listing.write_text(text)
    spec, given = ("-", text) if where == "stdin" else (str(listing), None)
    before = snapshot(empty_ds)
    result = ok(invoke("append", empty_ds, "videos", "--from-file", spec, input=given))
    assert result.stdout == "nothing to append\n" and result.stderr == ""
    result = ok(invoke("append", empty_ds, "videos", "--from-file", spec, "--json", input=given))
    assert json.loads(result.stdout) == {
        "tensor": "videos",
        "samples_added": 0,
        "bytes_added": 0,
        "length": 0,
        "version": 1,
    }
    assert snapshot(empty_ds) == before  # no new version


def test_an_empty_list_still_checks_the_tensor(empty_ds):
    result = invoke("append", empty_ds, "clips", "--from-file", "-", input="\n")
    assert result.exit_code == 1 and "no tensor 'clips'" in result.stderr


def test_a_source_list_with_crlf_lines(empty_ds, tmp_path, corpus):
    names = [str(corpus["h264_bframes"]), str(corpus["hevc"])]
    listing = tmp_path / "list.txt"
    listing.write_bytes(f"# made on Windows\r\n{names[0]}\r\n\r\n{names[1]}\r\n".encode())
    ok(invoke("append", empty_ds, "videos", "--from-file", listing, "-q"))
    assert [s.sample_info["filename"] for s in hubcli.load(empty_ds).videos] == names


# --- options after the command --------------------------------------------------------

#: Every command with a JSON document (export is checked by its own tests).
JSON_COMMANDS = {
    "create",
    "create-tensor",
    "append",
    "info",
    "shape",
    "timestamps",
    "verify",
    "log",
    "compact",
    "gc",
    "delete",
    "delete-tensor",
    "rename-tensor",
    "creds add",
    "creds populate",
    "creds remove",
    "creds list",
}
MINE = JSON_COMMANDS | {"play", "serve"}


def _commands(group, prefix=""):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_takes_quiet_and_json_after_its_name():
    load_all()  # the command modules register their commands when imported
    commands = dict(_commands(get_command(app)))
    assert set(commands) >= MINE  # the list above is not vacuous
    for name in MINE:
        options = {opt for param in commands[name].params for opt in param.opts}
        assert {"--quiet", "-q"} <= options, name
        assert ("--json" in options) == (name in JSON_COMMANDS), name


@pytest.mark.parametrize(
    "args",
    [
        ["info", "{ds}"],
        ["info", "{ds}", "videos"],
        ["shape", "{ds}", "videos"],
        ["timestamps", "{ds}", "videos[0, :3]"],
        ["verify", "{ds}"],
        ["log", "{ds}"],
        ["creds", "list", "{ds}"],
    ],
)
def test_json_before_or_after_the_command_is_the_same(cli_ds, args):
    args = [a.format(ds=cli_ds) for a in args]
    before = ok(invoke("--json", *args))
    after = ok(invoke(*args, "--json"))
    assert json.loads(before.stdout) == json.loads(after.stdout)


def test_quiet_after_the_command_silences_progress(empty_ds, corpus):
    result = ok(invoke("append", empty_ds, "videos", "--quiet", corpus["h264_bframes"]))
    assert result.stderr == "" and result.stdout.startswith("appended 1 sample ")
    result = ok(invoke("append", empty_ds, "videos", corpus["hevc"], "-q"))
    assert result.stderr == ""
    result = ok(invoke("-q", "append", empty_ds, "videos", corpus["hevc"]))
    assert result.stderr == ""
    assert len(hubcli.load(empty_ds).videos) == 3


# --- errors as JSON ---------------------------------------------------------------------


@pytest.mark.parametrize("place", ["before", "after"])
def test_errors_are_json_with_json(tmp_path, place):
    args = ["info", tmp_path / "none"]
    args = ["--json", *args] if place == "before" else [*args, "--json"]
    error = one_json_error(invoke(*args), 1, "DatasetNotFoundError")
    assert error["message"] == f"no hubcli dataset at {tmp_path / 'none'}"
    assert error["hint"].startswith("create one with: hubcli create")


def test_usage_errors_are_json_with_json(cli_ds):
    error = one_json_error(invoke("info", cli_ds, "--bogus", "--json"), 2, "UsageError")
    assert error["message"] == "No such option: --bogus"
    assert error["hint"] == "see: hubcli info --help"
    error = one_json_error(invoke("--json", "frobnicate"), 2, "UsageError")
    assert "No such command 'frobnicate'" in error["message"]


def test_an_error_without_a_hint_has_hint_null(cli_ds):
    error = one_json_error(invoke("info", cli_ds, "videos[0, 3]", "--json"), 1, "SelectorError")
    assert error["hint"] == "drop the frame index, or use hubcli shape / timestamps"
    error = one_json_error(invoke("--json", "shape", cli_ds, "videos[9]"), 1, "FrameIndexError")
    assert error["hint"] is None and "sample 9 is out of range" in error["message"]


def test_with_json_every_stderr_line_is_json(empty_ds, tmp_path, corpus):
    files = [corpus["h264_bframes"], corpus["hevc"]]
    result = ok(invoke("append", empty_ds, "videos", *files, "--json"))
    progress = [json.loads(line)["progress"] for line in result.stderr.splitlines()]
    total = sum(f.stat().st_size for f in files)
    assert progress == [
        {
            "verb": "appending",
            "file": n + 1,
            "files": 2,
            "name": str(files[n]),
            "bytes_done": files[0].stat().st_size if n else 0,
            "bytes_total": total,
        }
        for n in range(2)
    ]
    assert json.loads(result.stdout)["bytes_added"] == total
    legacy = shutil.copytree(FIXTURES / "format-1.0", tmp_path / "legacy")
    result = ok(invoke("--json", "creds", "add", legacy, "K"))
    warning = json.loads(result.stderr)["warning"]["message"]
    assert warning.startswith(f"upgraded {legacy} to format ")


def test_json_does_not_leak_into_the_next_run(tmp_path):
    one_json_error(invoke("--json", "info", tmp_path / "none"), 1, "DatasetNotFoundError")
    plain = invoke("info", tmp_path / "none")
    assert plain.stderr.startswith("error: no hubcli dataset at")


# --- whole values in pipes --------------------------------------------------------------


def test_tables_in_a_pipe_hold_whole_values(tmp_path, corpus):
    long_name = tmp_path / ("a_file_name_far_longer_than_eighty_columns_" * 3 + "clip.mp4")
    shutil.copyfile(corpus["h264_bframes"], long_name)
    root = tmp_path / "ds"
    hubcli.empty(root).create_tensor("videos")
    ok(invoke("append", root, "videos", long_name, "-q"))
    lines = ok(invoke("info", root, "videos")).stdout.splitlines()
    assert lines[0] == "videos: video, mp4, 1 sample"
    assert lines[1].split("\t") == [
        "#",
        "frames",
        "size",
        "fps",
        "seconds",
        "codec",
        "bytes",
        "filename",
    ]
    assert lines[2].split("\t")[-1] == str(long_name) and len(lines) == 3
    rows = ok(invoke("info", root, "videos[0]")).stdout.splitlines()
    assert f"filename\t{long_name}" in rows
    terminal = ok(invoke("info", root, "videos", env={"TTY_COMPATIBLE": "1", "COLUMNS": "80"}))
    assert "┃" in terminal.stdout or "│" in terminal.stdout  # a Rich table on a terminal


# --- progress of append ---------------------------------------------------------------


def test_append_progress_in_a_log_is_one_line_per_file(empty_ds, corpus):
    files = [corpus["h264_bframes"], corpus["hevc"], corpus["vfr"]]
    result = ok(invoke("append", empty_ds, "videos", *files))
    total = human_bytes(sum(f.stat().st_size for f in files))
    assert result.stdout == f"appended 3 samples ({total}) to 'videos'; it now has 3\n"
    lines = result.stderr.splitlines()
    # At most one line a second, but the first and the last file always.
    assert lines[0] == f"appending file 1/3: {files[0]} (0 B of {total} done)"
    done = human_bytes(sum(f.stat().st_size for f in files[:2]))
    assert lines[-1] == f"appending file 3/3: {files[2]} ({done} of {total} done)"
    assert all(re.fullmatch(r"appending file [123]/3: .*", line) for line in lines)


def test_one_file_in_a_log_has_no_progress_line_and_an_error_stays_one_line(
    empty_ds, tmp_path, corpus
):
    result = ok(invoke("append", empty_ds, "videos", corpus["h264_bframes"]))
    assert result.stderr == ""
    result = invoke("append", empty_ds, "videos", tmp_path / "gone.mp4")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "gone.mp4: no such file" in result.stderr


def test_append_progress_on_a_terminal_counts_files_and_real_bytes(empty_ds, corpus):
    files = [corpus["h264_bframes"], corpus["hevc"]]
    terminal = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "120"}
    result = ok(invoke("append", empty_ds, "videos", *files, env=terminal))
    total = human_bytes(sum(f.stat().st_size for f in files))  # e.g. "61.9 kB"
    number, unit = total.split()
    assert f"({total})" in result.stdout
    assert "appending file 2/2" in result.stderr
    # The bar's total is the bytes appended (not twice them), and it reaches it.
    assert f"{number}/{number} {unit}" in result.stderr, result.stderr
    assert f"/{float(number) * 2:.1f} {unit}" not in result.stderr


def test_linking_shows_per_file_progress(empty_ds, corpus):
    ok(invoke("create-tensor", empty_ds, "links", "--htype", "link[video]"))
    files = [corpus["h264_bframes"], corpus["hevc"]]
    result = ok(invoke("append", empty_ds, "links", *files))
    assert result.stdout.startswith("linked 2 samples (")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("linking file 1/2: ") and lines[-1].startswith("linking file 2/2: ")


# --- credentials ----------------------------------------------------------------------


def _store(path):
    return json.loads(path.read_text()) if path.exists() else None


def test_populate_accepts_profile_and_project(cli_ds, tmp_path, store_home):
    ok(invoke("creds", "add", cli_ds, "LAKE", "--managed"))
    secrets = {"aws_access_key_id": "AKIA-profile-test", "profile": "lake", "project": "p"}
    (tmp_path / "c.json").write_text(json.dumps(secrets))
    result = ok(invoke("creds", "populate", cli_ds, "LAKE", "--file", tmp_path / "c.json"))
    assert "(aws_access_key_id, profile, project)" in result.stdout
    assert "AKIA-profile-test" not in result.stdout + result.stderr
    listed = json.loads(ok(invoke("creds", "list", cli_ds, "--json")).stdout)["keys"]
    assert listed[0]["populated"] is True


def test_populate_makes_an_unmanaged_key_managed_in_one_commit(cli_ds, tmp_path, store_home):
    ok(invoke("creds", "add", cli_ds, "TEMP"))
    version = hubcli.load(cli_ds).version
    (tmp_path / "c.json").write_text(json.dumps({"aws_access_key_id": "k", "region": "eu"}))
    args = ["creds", "populate", cli_ds, "TEMP", "--file", tmp_path / "c.json"]
    result = ok(invoke(*args))
    assert result.stdout.splitlines()[0] == f"made creds key 'TEMP' managed (version {version + 1})"
    ds = hubcli.load(cli_ds)
    assert ds.version == version + 1 and ds.creds_keys[0]["managed"] is True
    assert ds.log()[0]["changes"] == [{"op": "manage_creds_key", "key": "TEMP"}]
    assert ds.secrets_for("TEMP")[0] == {"aws_access_key_id": "k", "region": "eu"}
    again = json.loads(ok(invoke(*args, "--json")).stdout)  # managed now: no commit
    assert again["made_managed"] is False and again["version"] == version + 1


def test_a_bad_secrets_file_changes_nothing(cli_ds, tmp_path, store_home):
    ok(invoke("creds", "add", cli_ds, "TEMP"))
    before = snapshot(cli_ds)
    (tmp_path / "c.json").write_text(json.dumps({"password": "x"}))
    result = invoke("creds", "populate", cli_ds, "TEMP", "--file", tmp_path / "c.json")
    assert result.exit_code == 1 and "unknown credential field(s) ['password']" in result.stderr
    assert snapshot(cli_ds) == before and _store(store_home) is None


def test_add_managed_on_an_existing_key_makes_it_managed(cli_ds):
    ok(invoke("creds", "add", cli_ds, "TEMP"))
    result = ok(invoke("creds", "add", cli_ds, "TEMP", "--managed"))
    assert result.stdout.startswith("made creds key 'TEMP' managed (version ")
    assert hubcli.load(cli_ds).creds_keys[0]["managed"] is True
    again = invoke("creds", "add", cli_ds, "TEMP", "--managed")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_remove_forgets_a_keys_secrets_and_clear_empties_the_store(cli_ds, tmp_path, store_home):
    other = tmp_path / "other"
    hubcli.empty(other)
    for root in (cli_ds, other):
        ok(invoke("creds", "add", root, "LAKE", "--managed"))
        ok(invoke("creds", "populate", root, "LAKE", "--env", env={"AWS_ACCESS_KEY_ID": "k"}))
    result = ok(invoke("creds", "remove", cli_ds, "LAKE"))
    assert result.stdout == f"forgot the secrets of creds key 'LAKE' for {cli_ds}\n"
    assert not hubcli.load(cli_ds).creds_keys[0]["populated"]
    assert hubcli.load(other).creds_keys[0]["populated"]  # another dataset's stay
    assert ok(invoke("creds", "remove", cli_ds, "LAKE")).stdout.startswith("no secrets of")
    assert hubcli.load(cli_ds).get_creds_keys() == ["LAKE"]  # the key stays in the dataset
    cleared = json.loads(ok(invoke("creds", "remove", "--clear", "--json")).stdout)
    assert cleared == {"cleared": True, "store": str(store_home)}
    assert _store(store_home)["datasets"] == {}
    assert os.stat(store_home).st_mode & 0o777 == 0o600
    assert not hubcli.load(other).creds_keys[0]["populated"]


def test_remove_needs_a_key_or_clear(cli_ds, store_home):
    assert invoke("creds", "remove", cli_ds).exit_code == 2
    assert invoke("creds", "remove", cli_ds, "LAKE", "--clear").exit_code == 2
    missing = invoke("creds", "remove", cli_ds, "NOPE")
    assert missing.exit_code == 1 and "creds key 'NOPE' was not added" in missing.stderr


# --- wording ----------------------------------------------------------------------------


def test_info_on_a_folder_of_other_files_does_not_suggest_create(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("info", tmp_path)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "holds other files (e.g. 'notes.txt')" in result.stderr
    assert "hubcli create" not in result.stderr
    # ... where create would indeed fail
    assert "is not empty and holds no hubcli dataset" in invoke("create", tmp_path).stderr


def test_plurals(empty_ds, corpus):
    result = ok(invoke("append", empty_ds, "videos", corpus["h264_bframes"], "-q"))
    assert result.stdout.startswith("appended 1 sample (")
    assert ok(invoke("verify", empty_ds)).stdout.startswith("ok: 1 sample, ")
    title = ok(invoke("info", empty_ds, "videos")).stdout.splitlines()[0]
    assert title == "videos: video, mp4, 1 sample"
    result = ok(invoke("delete", empty_ds, "videos[0]"))
    assert result.stdout == "removed 1 sample from 'videos'; it now has 0\n"


def test_verify_says_what_young_unreferenced_objects_are(cli_ds):
    orphan = cli_ds / "tensors" / "videos" / "chunks" / ("ab" * 16 + ".chunk")
    orphan.write_bytes(b"HUBCCHK1in flight")
    lines = ok(invoke("verify", cli_ds)).stdout.splitlines()
    assert lines[0].startswith("ok: 3 samples, ")
    assert lines[1].startswith("1 object written in the last hour that no version names yet: ")
    assert "an append in progress" in lines[1]


def test_link_tensors_say_any_container(empty_ds, corpus):
    result = ok(invoke("create-tensor", empty_ds, "links", "--htype", "link[video]"))
    assert result.stdout == "created tensor 'links' (link[video], any container)\n"
    assert "links\tlink[video]\tany container\t0" in ok(invoke("info", empty_ds)).stdout


def test_an_avi_file(empty_ds, corpus):
    args = ["create-tensor", empty_ds, "links", "--htype", "link[video]"]
    ok(invoke(*args, "--sample-compression", "mp4"))
    result = invoke("append", empty_ds, "links", corpus["mpeg4_avi"])
    assert result.exit_code == 1 and "is an avi file, tensor 'links' holds mp4" in result.stderr


def test_a_bad_choice_is_one_clean_line(empty_ds):
    result = invoke("create-tensor", empty_ds, "x", "--sample-compression", "mp3")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "Value error" not in result.stderr
    assert "'mp3' is not one of 'mp4', 'mov', 'mkv', 'webm', 'avi'" in result.stderr


def test_help_keeps_the_default_of_sample_compression():
    text = re.sub(r"[\s│]+", " ", ok(invoke("create-tensor", "--help")).stdout)
    assert "(default: mp4; link tensors: any container)" in text


def test_the_first_write_to_a_legacy_dataset_says_it_upgrades(tmp_path):
    root = shutil.copytree(FIXTURES / "format-1.0", tmp_path / "ds")
    run = hubcli_run("creds", "add", str(root), "K")
    assert run.code == 0 and run.stdout == "added unmanaged creds key 'K'\n"
    version = hubcli.load(root).manifest.format_version
    assert version != "1.0"
    note = f"warning: upgraded {root} to format {version} (hubcli before 0.3 cannot read it)\n"
    assert run.stderr == note
    run = hubcli_run("creds", "add", str(root), "K2")
    assert run.code == 0 and run.stderr == ""
