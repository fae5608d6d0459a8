"""The import rule of STYLE.md §8.1: redaction <- errors <- format <- storage <- video <-
core <- cli. ``redaction`` is below ``errors``: every HubcliError redacts its message."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hubcli"
ORDER = [
    "redaction",
    "errors",
    "settings",  # hubcli.settings: hubcli.config, read by every layer above
    "format",
    "storage",
    "creds",
    "video",
    "core",
    "sampling",  # hubcli.sampling: the clip planner, over core
    "torch",  # hubcli.torch: the PyTorch datasets (the optional torch extra)
    "ray",  # hubcli.ray: the Ray Data datasource and datasink (the optional ray extra)
    "serve",
    "api",
    "cli",
]  # api: __init__
# What each layer may import from outside hubcli, beyond the standard library.
THIRD_PARTY = {
    "redaction": set(),
    "errors": set(),
    "settings": set(),
    "format": {"msgpack", "numpy"},
    "storage": {"fsspec"},
    "creds": set(),
    "video": {"av", "numpy"},
    "core": {"numpy"},
    "sampling": {"numpy"},
    "torch": {"numpy", "torch"},
    "ray": {"numpy", "ray"},
    "serve": {"numpy"},
    "api": set(),
    "cli": {"typer", "rich", "numpy"},
}
KNOWN_THIRD_PARTY = {
    "msgpack",
    "numpy",
    "fsspec",
    "av",
    "typer",
    "rich",
    "s3fs",
    "gcsfs",
    "torch",
    "ray",
}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0].removesuffix(".py") if rel[0] != "__init__.py" else "api"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) in ORDER)


def test_every_module_is_checked():
    assert len(MODULES) > 15


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_only_to_lower_layers(path):
    layer = _layer(path)
    allowed = set(ORDER[: ORDER.index(layer) + 1])
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "hubcli":
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else "api"
            assert target in allowed, f"{path.name} ({layer}) imports {name}"
        elif top in KNOWN_THIRD_PARTY:
            assert top in THIRD_PARTY[layer], f"{path.name} ({layer}) imports {top}"


# What issue 16 cut, kept cut: a module that comes back, or an import of one, fails here.
REMOVED_MODULES = {
    "hubcli.core.reader": "split into core/lookup.py (index) and core/packets.py (bytes)",
    "hubcli.core.links": "links by stage: sources.py, ingest.py, packets.py",
}
# Only the error translator turns a backend's exception into a hubcli error; only the
# Credentials value knows which fields a backend takes; the HTTP status of a library's
# exception is read in one place; the Drive token is read from the environment once.
ONE_PLACE = {
    "def translate(": "storage/errors.py",
    "BACKEND_FIELDS: ": "storage/credentials.py",
    "def status_of(": "storage/transient.py",
    '"HUBCLI_GDRIVE_TOKEN"': "storage/credentials.py",
    "CREDS_KEY_RE = ": "format/names.py",
}


def test_what_was_cut_stays_cut():
    for name, why in REMOVED_MODULES.items():
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        assert not path.exists(), f"{name} is back ({why})"
    for path in MODULES:
        for name in _imports(path):
            assert name not in REMOVED_MODULES, f"{path.name} imports {name}"


@pytest.mark.parametrize("needle", sorted(ONE_PLACE))
def test_each_rule_lives_in_one_module(needle):
    defining = [str(p.relative_to(PACKAGE)) for p in MODULES if needle in p.read_text()]
    assert defining == [ONE_PLACE[needle]], defining
