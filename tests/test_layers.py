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
    "serve": {"numpy"},
    "api": set(),
    "cli": {"typer", "rich", "numpy"},
}
KNOWN_THIRD_PARTY = {"msgpack", "numpy", "fsspec", "av", "typer", "rich", "s3fs", "gcsfs", "torch"}


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
