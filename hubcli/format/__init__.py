"""The hubcli dataset format: bytes and JSON to dataclasses and back, per ``format_spec/``.

Pure: nothing here performs I/O. Storage hands bytes in, this package parses and
validates them, and raises :class:`hubcli.errors.CorruptDatasetError` or
:class:`hubcli.errors.UnsupportedFormatError` when they break the specification.
numpy is used for the frame table's columns (it is a core dependency anyway).
"""
