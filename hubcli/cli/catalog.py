"""Every command's name, the module that defines it, and the first paragraph of its help:
what ``hubcli --help`` lists, known without importing the command modules (start-up,
issue #15). A command module is imported only when its command runs or shows its own
help (:class:`hubcli.cli.app.HubcliGroup`).

The order is the order of ``hubcli --help``. tests/cli/test_startup.py checks this table
against the commands the modules register (names, modules and help texts), so a new or
reworded command fails there until its line here says the same.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    #: The first paragraph of the command's help, as Typer shows it in the command list.
    summary: str


_APPEND = "hubcli.cli.append_cmd"
_CREDS = "hubcli.cli.creds_cmd"
_DATASET = "hubcli.cli.dataset_cmd"
_EXPORT = "hubcli.cli.export_cmd"
_HISTORY = "hubcli.cli.history_cmd"
_ROWS = "hubcli.cli.rows_cmd"
_SERVE = "hubcli.cli.serve_cmd"
_SHOW = "hubcli.cli.show_cmd"
_VERIFY = "hubcli.cli.verify_cmd"

COMMANDS: dict[str, Entry] = {
    "append": Entry(
        _APPEND,
        "Append videos (files or URLs; links for link[video] tensors), or values to a\n"
        "label tensor, as one commit: all of them, or none if any is bad. An empty\n"
        "--from-file list appends nothing (exit 0).",
    ),
    "create": Entry(_DATASET, "Create an empty dataset."),
    "create-tensor": Entry(
        _DATASET,
        "Create an empty tensor: videos, or labels and metadata (class_label, text, json,\n"
        "generic).",
    ),
    "info": Entry(_DATASET, "Summarise a dataset, a tensor, or a sample's metadata (no decoding)."),
    "shape": Entry(
        _DATASET, "Print the shape of what the selector names, from the index (no decoding)."
    ),
    "timestamps": Entry(
        _DATASET, "Print the presentation timestamps (seconds) of the selected frames."
    ),
    "export": Entry(
        _EXPORT,
        "Write the selected frames as .npy, PNG/JPEG images or a clip, streaming; or a\n"
        "label tensor's values as .npy (numbers), .jsonl (one JSON value a line) or .npz\n"
        "(one array a sample, named by its index).",
    ),
    "log": Entry(_HISTORY, "List the kept versions, newest first: number, time and what changed."),
    "compact": Entry(
        _HISTORY,
        "Merge small segments and drop removed samples now (one commit that changes no\n"
        "sample; commits also compact on their own).",
    ),
    "gc": Entry(
        _HISTORY,
        "Remove old versions and what no kept version needs (and leftovers of\n"
        "interrupted writes); print what was removed and the bytes freed.",
    ),
    "delete": Entry(
        _HISTORY,
        "Remove samples (later ones shift down), as one commit: videos[3], videos[2:5],\n"
        "videos[[1, 4]]. gc frees their bytes once no kept version needs them.",
    ),
    "delete-tensor": Entry(_HISTORY, "Remove a tensor (one commit; gc frees its objects)."),
    "rename-tensor": Entry(_HISTORY, "Rename a tensor (one commit; nothing is copied)."),
    "append-rows": Entry(
        _ROWS,
        "Append rows: one sample to each named tensor per line, all rows as ONE commit\n"
        "(all of them, or none if any row or video is bad).",
    ),
    "play": Entry(
        _SERVE,
        "Serve one video for playback in the browser; prints the URL; Ctrl-C stops it.",
    ),
    "serve": Entry(
        _SERVE,
        "Serve a page that browses the whole dataset (ds.visualize() from the shell).",
    ),
    "show": Entry(
        _SHOW,
        "Print the values of a label tensor, one 'INDEX<TAB>VALUE' a line: class labels\n"
        "with their names ('2 (bird)', '[0, 1] (cat, dog)'), text with line breaks escaped\n"
        "(\\n), json compact, generic as nested lists.",
    ),
    "verify": Entry(
        _VERIFY,
        "Check every checksum (manifest, segments, frame tables, chunks, samples, packets);\n"
        "exit 1 if anything is corrupt.",
    ),
    "creds": Entry(_CREDS, "Credentials keys: names in the dataset, secrets on this machine."),
}


def load_all() -> None:
    """Import every command module, so that ``app.registered_commands`` (and a click
    group built from the app) holds every command: for code that walks them all (tests,
    documentation). The command line itself never needs this."""
    for module in dict.fromkeys(entry.module for entry in COMMANDS.values()):
        importlib.import_module(module)
