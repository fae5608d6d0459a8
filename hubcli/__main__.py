"""``python -m hubcli``: the same as the ``hubcli`` command."""

from hubcli.cli import main

main()
