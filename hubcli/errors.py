"""Every error hubcli raises on purpose.

One hierarchy, rooted at :class:`HubcliError`. Each class mixes in the builtin that a
caller would already catch (``FileNotFoundError``, ``IndexError``...), as zarr and PyAV
do. Messages are built where the error is raised, name the object and the problem,
and carry a ``hint`` with the fix; the CLI prints ``str(exc)`` as one line.
"""

from __future__ import annotations

from hubcli.redaction import redact


class HubcliError(Exception):
    """An error in the user's data or arguments. CLI: one stderr line, exit 1."""

    exit_code = 1
    #: Set by ``Tensor.extend``: the position of the source that failed.
    source_index: int | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Messages quote URLs and library texts: no secret may reach anyone who prints
        # the error (hubcli/redaction.py).
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else redact(hint)

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class DatasetNotFoundError(HubcliError, FileNotFoundError):
    """No hubcli dataset at the given path."""


class DatasetExistsError(HubcliError, FileExistsError):
    """A dataset (or an unrelated file tree) is already where one would be created."""


class ReadOnlyError(HubcliError, PermissionError):
    """A write on a dataset opened with ``read_only=True``."""


class UnsupportedFormatError(HubcliError):
    """The dataset was written by a newer format version, or uses a feature we lack."""


class CorruptDatasetError(HubcliError):
    """Dataset files disagree with their checksums or with the format specification."""


class VersionError(HubcliError, LookupError):
    """A version that does not exist, or that garbage collection removed."""


class ConflictError(HubcliError):
    """Another writer committed first and the change could not be re-applied on top."""


class StorageError(HubcliError, OSError):
    """The storage backend failed (permissions, disk full, network)."""


class UnsafeEntryError(StorageError):
    """A symbolic link or a special file (FIFO, socket, device) under a local dataset
    root: hubcli never follows, opens or removes one (format_spec/layout.md)."""


class TensorNotFoundError(HubcliError, LookupError):
    """No tensor of that name in the dataset."""


class TensorExistsError(HubcliError):
    """A tensor of that name already exists."""


class InvalidNameError(HubcliError, ValueError):
    """A tensor name that is not allowed (format_spec/metadata.md, tensor names)."""


class UnsupportedHtypeError(HubcliError, ValueError):
    """An htype or sample compression hubcli does not know."""


class InvalidSampleError(HubcliError, ValueError):
    """A source that is not a usable video: wrong container, corrupt, truncated, no video."""


class SourceNotFoundError(HubcliError, FileNotFoundError):
    """A source path or URL that does not exist."""


class FrameIndexError(HubcliError, IndexError):
    """A frame or sample index out of range, or of a type that cannot index frames."""


class RaggedError(HubcliError, ValueError):
    """Samples of different shapes asked for as one stacked array."""


class SelectorError(HubcliError, ValueError):
    """A malformed selector string such as ``videos[0, 1:``."""


class ExportError(HubcliError):
    """An export that cannot be written (output folder missing, not writable...)."""


class CredentialsError(HubcliError, PermissionError):
    """Missing or refused credentials."""


class LinkChangedError(HubcliError):
    """A linked object is not the one that was indexed when it was appended."""


class HubcliWarning(UserWarning):
    """Something worth telling the user that does not stop the operation (CLI: one
    ``warning:`` line on stderr)."""
