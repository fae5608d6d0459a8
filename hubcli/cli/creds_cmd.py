"""``hubcli creds``: credentials key names in a dataset, and their secrets on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import (
    CredsOpt,
    DatasetArg,
    JsonOpt,
    QuietOpt,
    emit,
    open_dataset,
    read_creds,
)
from hubcli.errors import CredentialsError

if TYPE_CHECKING:
    import hubcli

creds_app = typer.Typer(
    help="Credentials keys: names in the dataset, secrets on this machine.", no_args_is_help=True
)
app.add_typer(creds_app, name="creds")

KeyArg = Annotated[str, typer.Argument(help="Key name, e.g. MY_S3.")]


@creds_app.command("add")
def add(
    dataset: DatasetArg,
    key: KeyArg,
    managed: Annotated[
        bool,
        typer.Option(
            help="Keep its secrets in this user's credential store (on an existing "
            "unmanaged key: make it managed)."
        ),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Register a key name in the dataset (never a secret).

    Example: hubcli creds add ./clips MY_S3 --managed
    """
    ds = open_dataset(dataset, creds_file, read_only=False)
    entry = _entry(ds, key)
    if managed and entry is not None and not entry["managed"]:
        ds.change_creds_management(key, True)
        line = f"made creds key {key!r} managed (version {ds.version})"
    else:
        ds.add_creds_key(key, managed=managed)
        line = f"added {'managed' if managed else 'unmanaged'} creds key {key!r}"
    emit(json_, {"key": key, "managed": managed, "version": ds.version}, [line])


@creds_app.command("populate")
def populate(
    dataset: DatasetArg,
    key: KeyArg,
    env: Annotated[
        bool, typer.Option("--env", help="Take the secrets from AWS_* / HUBCLI_GDRIVE_TOKEN.")
    ] = False,
    file: Annotated[Path | None, typer.Option("--file", help="Take them from a JSON file.")] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Store a key's secrets for later commands on this machine (0600 file), bound to
    this dataset's location: a copy elsewhere does not get them. A key added without
    --managed is made managed first (one commit), since each command is a new process.

    Example: hubcli creds populate ./clips MY_S3 --file creds.json
    """
    from hubcli import creds  # the credential store: loaded when a command needs it

    if env == (file is not None):
        raise typer.BadParameter(
            "give exactly one of --env and --file", param_hint="--env / --file"
        )
    ds = open_dataset(dataset, creds_file, read_only=False)
    entry = _entry(ds, key)
    # The secrets are checked before the key changes: a failed command changes nothing.
    secrets = creds.secrets_from_env(key) if env else creds.parse_secrets(read_creds(file), key)
    made_managed = False
    if entry is not None and not entry["managed"]:
        made_managed = ds.change_creds_management(key, True)
    ds.populate_creds(key, secrets)
    bound_to = creds.location_of(ds.path)
    fields = sorted(secrets)
    lines = [f"populated creds key {key!r} ({', '.join(fields)}) for {bound_to}"]
    if made_managed:
        lines.insert(0, f"made creds key {key!r} managed (version {ds.version})")
    document = {
        "key": key,
        "fields": fields,
        "bound_to": bound_to,
        "made_managed": made_managed,
        "version": ds.version,
    }
    emit(json_, document, lines)


@creds_app.command("remove")
def remove(
    dataset: Annotated[str | None, typer.Argument(help="Dataset path.", show_default=False)] = None,
    key: Annotated[str | None, typer.Argument(help="Key name.", show_default=False)] = None,
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Forget every stored secret, of every dataset and key."),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Forget the secrets of a key stored on this machine (the key stays in the
    dataset); --clear empties the whole credential store.

    Example: hubcli creds remove ./clips MY_S3; hubcli creds remove --clear
    """
    from hubcli import creds  # the credential store: loaded when a command needs it

    if clear:
        if dataset is not None:
            raise typer.BadParameter("--clear takes no DATASET or KEY", param_hint="--clear")
        path = creds.clear_store()
        line = f"emptied the credential store {path}" if path else "no credential store"
        emit(json_, {"cleared": True, "store": str(path) if path else None}, [line])
        return
    if dataset is None or key is None:
        raise typer.BadParameter("give DATASET and KEY, or --clear", param_hint="DATASET KEY")
    ds = open_dataset(dataset, creds_file)
    if _entry(ds, key) is None:
        known = ", ".join(ds.get_creds_keys()) or "none"
        raise CredentialsError(f"creds key {key!r} was not added to {ds.path} (keys: {known})")
    removed = creds.remove_managed(ds.manifest.dataset_id, ds.path, key)
    bound_to = creds.location_of(ds.path)
    line = (
        f"forgot the secrets of creds key {key!r} for {bound_to}"
        if removed
        else f"no secrets of creds key {key!r} are stored for {bound_to}"
    )
    emit(json_, {"key": key, "removed": removed, "bound_to": bound_to}, [line])


def _entry(ds: hubcli.Dataset, key: str) -> dict[str, Any] | None:
    return next((k for k in ds.creds_keys if k["name"] == key), None)


@creds_app.command("list")
def list_keys(
    dataset: DatasetArg,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Key names, whether each is managed and populated here, and where a managed key's
    secrets are bound (never the secrets).

    Example: hubcli creds list ./clips
    """
    ds = open_dataset(dataset, creds_file)
    keys = ds.creds_keys
    if json_:
        output.print_json({"keys": keys})
    else:
        output.print_table(
            "creds keys",
            ["key", "managed", "populated", "bound to"],
            [[k["name"], k["managed"], k["populated"], k["bound_to"] or "-"] for k in keys],
        )
