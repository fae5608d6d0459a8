"""Start-up (issue #15): a CI job calls hubcli hundreds of times, so a command loads
only what it uses. Each case runs in a fresh interpreter and lists the heavy modules it
loaded; the time itself is measured by scripts/bench_startup.py, not here."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import hubcli
from hubcli.cli import app, catalog

#: Heavy modules: PyAV, the cloud backends, numpy, msgpack, pydantic (Typer 0.29 converts
#: option values with it: hubcli.cli.coercion), and hubcli's video stack and playback server.
HEAVY = ("av", "fsspec", "s3fs", "gcsfs", "aiohttp", "botocore", "numpy", "msgpack", "pydantic")
HEAVY_HUBCLI = ("hubcli.video", "hubcli.serve")

_PROBE = """
import json, sys
args = json.loads(sys.argv[1])
heavy = set(json.loads(sys.argv[2]))
prefixes = tuple(json.loads(sys.argv[3]))
if args is None:
    import hubcli
else:
    sys.argv = ["hubcli", *args]
    from hubcli.cli import main
    try:
        main()
    except SystemExit:
        pass
loaded = sorted(
    {m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}
    | {".".join(m.split(".")[:2]) for m in sys.modules if m.startswith(prefixes)}
)
print("LOADED " + json.dumps(loaded), file=sys.stderr)
commands = sorted(m for m in sys.modules if m.startswith("hubcli.cli.") and m.endswith("_cmd"))
print("COMMANDS " + json.dumps(commands), file=sys.stderr)
"""


def _loaded(args):
    """The heavy modules (HEAVY, HEAVY_HUBCLI) that ``hubcli ARGS`` (None: ``import
    hubcli``) loaded."""
    return _probe(args)["LOADED"]


def _command_modules(args):
    """The command modules (``hubcli.cli.*_cmd``) that ``hubcli ARGS`` loaded."""
    return _probe(args)["COMMANDS"]


def _probe(args):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            json.dumps(args),
            json.dumps(HEAVY),
            json.dumps(HEAVY_HUBCLI),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = {}
    for line in done.stderr.splitlines():
        head, _, rest = line.partition(" ")
        if head in ("LOADED", "COMMANDS"):
            found[head] = set(json.loads(rest))
    assert set(found) == {"LOADED", "COMMANDS"}, done.stderr
    return found


@pytest.fixture(scope="module")
def small_ds(tmp_path_factory, corpus):
    root = tmp_path_factory.mktemp("startup") / "ds"
    ds = hubcli.empty(root)
    ds.create_tensor("videos")
    ds.videos.append(str(corpus["h264_bframes"]))
    return str(root)


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["info", "--help"], ["export", "--help"], None]
)
def test_help_version_and_import_load_nothing_heavy(args):
    assert _loaded(args) == set(), args


@pytest.mark.parametrize(
    "args",
    [["info", "{ds}"], ["info", "{ds}", "videos"], ["shape", "{ds}", "videos[0]"], ["log", "{ds}"]],
)
def test_reading_metadata_loads_no_video_stack_backend_or_server(small_ds, args):
    loaded = _loaded([a.format(ds=small_ds) for a in args])
    assert not loaded & {"av", "fsspec", "s3fs", "gcsfs", "aiohttp", "botocore", *HEAVY_HUBCLI}


def test_the_probe_sees_what_a_decode_loads(small_ds, tmp_path):
    """The check itself can fail: exporting frames loads PyAV and the video stack."""
    loaded = _loaded(["export", small_ds, "videos[0, 0]", "-o", str(tmp_path / "f.npy")])
    assert {"av", "numpy", "hubcli.video"} <= loaded


@pytest.mark.parametrize("args", [["--help"], [], ["--version"], ["--json", "--help"]])
def test_the_command_list_loads_no_command_module(args):
    """``hubcli --help`` lists every command from hubcli/cli/catalog.py."""
    assert _command_modules(args) == set()


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["info", "{ds}"], "dataset_cmd"),
        (["shape", "{ds}", "videos[0]"], "dataset_cmd"),
        (["log", "{ds}"], "history_cmd"),
        (["creds", "list", "{ds}"], "creds_cmd"),
        (["show", "--help"], "show_cmd"),
    ],
)
def test_a_command_loads_its_own_module_only(small_ds, args, module):
    loaded = _command_modules([a.format(ds=small_ds) for a in args])
    assert loaded == {f"hubcli.cli.{module}"}


def test_the_probe_sees_command_modules():
    """The check itself can fail: append-rows imports append_cmd's helpers too."""
    assert _command_modules(["append-rows", "--help"]) == {
        "hubcli.cli.rows_cmd",
        "hubcli.cli.append_cmd",
    }


def test_info_loads_no_numpy(small_ds):
    """``hubcli info DS`` reads JSON and msgpack metadata: numpy (a quarter of its
    start-up) is not needed, nor for the shape of a sample."""
    assert "numpy" not in _loaded(["info", small_ds])
    assert "numpy" not in _loaded(["shape", small_ds, "videos[0]"])


def test_option_values_are_converted_without_pydantic(small_ds, corpus, tmp_path, make_dataset):
    """A str, an int, a Path, an enum and a list of str, as given: no pydantic (0.15 s of
    start-up with Typer 0.29; hubcli.cli.coercion)."""
    ds = tmp_path / "ds"
    make_dataset(ds, {"videos": []})
    clip = str(corpus["h264_bframes"])
    append = ["append", str(ds), "videos", clip, clip, "--jobs", "2", "--quiet"]
    export = ["export", small_ds, "videos[0, 0:2]", "-o", str(tmp_path / "f.npy")]
    for args in (append, [*export, "--format", "npy"], ["info", small_ds, "videos"]):
        assert "pydantic" not in _loaded(args), args
    assert len(hubcli.load(ds).videos) == 2  # the append ran


def test_the_probe_sees_pydantic_when_typer_explains_a_value(small_ds):
    """The check itself can fail: a value Typer refuses goes to its own conversion,
    which explains it with pydantic."""
    assert "pydantic" in _loaded(["append", small_ds, "videos", "x.mp4", "--jobs", "0"])


def _registered_commands():
    """name -> (module, help) of every command the command modules register."""
    for path in sorted(Path(catalog.__file__).parent.glob("*_cmd.py")):  # not only the catalog's
        importlib.import_module(f"hubcli.cli.{path.stem}")
    group = typer.main.get_group(app)
    found = {}
    for name, command in group.commands.items():
        callback = command.callback
        if isinstance(command, typer.core.TyperGroup):  # a sub-app (creds): its commands'
            callback = next(iter(command.commands.values())).callback
        found[name] = (callback.__module__, command.help)
    return found


def test_the_catalog_names_every_command_with_its_module_and_help():
    """hubcli --help shows the catalog's summaries: each must be the first paragraph of
    the command's own help, as Typer would show it, and every command must be listed,
    in the order of the catalog."""
    registered = _registered_commands()
    assert set(catalog.COMMANDS) == set(registered), "add or remove it in hubcli/cli/catalog.py"
    for name, entry in catalog.COMMANDS.items():
        module, help_text = registered[name]
        assert entry.module == module, name
        summary = inspect.cleandoc(help_text or "").split("\n\n")[0]
        assert entry.summary == summary, f"hubcli/cli/catalog.py, {name!r}: {summary!r}"


def test_help_lists_the_commands_in_the_catalog_order():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    shown = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")]
    commands = [name for name in shown if name in catalog.COMMANDS]
    assert commands == list(catalog.COMMANDS)
    assert "Summarise a dataset, a tensor, or a sample's metadata (no decoding)." in result.output


def test_an_unknown_command_is_suggested_from_commands_not_loaded():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["verfy"])
    assert result.exit_code == 2
    assert "No such command 'verfy'. Did you mean 'verify'?" in result.output


def test_load_all_registers_every_command_of_the_catalog():
    catalog.load_all()
    group = typer.main.get_group(app)
    assert set(group.commands) == set(catalog.COMMANDS)
