"""``hubcli creds``: credentials key names in a dataset, and their secrets on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hubcli.cli import output
from hubcli.cli.app import app
from hubcli.cli.options import CredsOpt, DatasetArg, JsonOpt, emit, open_dataset, read_creds
from hubcli.creds import parse_secrets, secrets_from_env
from hubcli.errors import CredentialsError

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
        bool, typer.Option(help="Keep its secrets in this user's credential store.")
    ] = False,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Register a key name in the dataset (never a secret).

    Example: hubcli creds add ./clips MY_S3 --managed
    """
    ds = open_dataset(dataset, creds_file, read_only=False)
    ds.add_creds_key(key, managed=managed)
    kind = "managed" if managed else "unmanaged"
    output_doc = {"key": key, "managed": managed, "version": ds.version}
    emit(json_, output_doc, [f"added {kind} creds key {key!r}"])


@creds_app.command("populate")
def populate(
    dataset: DatasetArg,
    key: KeyArg,
    env: Annotated[
        bool, typer.Option("--env", help="Take the secrets from AWS_* / HUBCLI_GDRIVE_TOKEN.")
    ] = False,
    file: Annotated[Path | None, typer.Option("--file", help="Take them from a JSON file.")] = None,
    json_: JsonOpt = False,
    creds_file: CredsOpt = None,
) -> None:
    """Store a managed key's secrets for later commands on this machine (0600 file),
    bound to this dataset's location: a copy elsewhere does not get them.

    Example: hubcli creds populate ./clips MY_S3 --file creds.json
    """
    if env == (file is not None):
        raise typer.BadParameter(
            "give exactly one of --env and --file", param_hint="--env / --file"
        )
    ds = open_dataset(dataset, creds_file)
    entry = next((k for k in ds.creds_keys if k["name"] == key), None)
    if entry is not None and not entry["managed"]:
        raise CredentialsError(
            f"creds key {key!r} is not managed: secrets given here would end with this command",
            hint="populate it in Python (ds.populate_creds), or add a key with --managed",
        )
    secrets = secrets_from_env(key) if env else parse_secrets(read_creds(file), key)
    ds.populate_creds(key, secrets)
    bound_to = next(k["bound_to"] for k in ds.creds_keys if k["name"] == key)
    emit(
        json_,
        {"key": key, "fields": sorted(secrets), "bound_to": bound_to},
        [f"populated creds key {key!r} ({', '.join(sorted(secrets))}) for {bound_to}"],
    )


@creds_app.command("list")
def list_keys(dataset: DatasetArg, json_: JsonOpt = False, creds_file: CredsOpt = None) -> None:
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
