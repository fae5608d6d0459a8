"""Datasets: opening, creating, and the tensors they hold."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import Change, Plan, Written, commit, now
from hubcli.core.lookup import ReadCache, SampleReader
from hubcli.core.packets import ByteSource, open_link
from hubcli.core.playback import player
from hubcli.core.tensor import Tensor
from hubcli.core.value_reader import ColumnCache, ValueReader
from hubcli.core.values import check_options
from hubcli.core.versions import dataset_exists, read_head, read_version
from hubcli.creds import (
    ENV,
    Secrets,
    check_key_name,
    load_managed,
    location_of,
    parse_secrets,
    save_managed,
)
from hubcli.errors import (
    ConflictError,
    CredentialsError,
    DatasetExistsError,
    DatasetNotFoundError,
    HubcliWarning,
    ReadOnlyError,
    TensorExistsError,
    TensorNotFoundError,
    UnsupportedHtypeError,
)
from hubcli.format import keys
from hubcli.format.log import AddCredsKey, CreateTensor, DropTensor, ManageCredsKey, Rename
from hubcli.format.manifest import (
    CredsKey,
    Manifest,
    TensorMeta,
    encode_anchor,
    encode_state,
    validate_htype,
    validate_tensor_name,
)
from hubcli.format.selector import parse_selector
from hubcli.format.values import VALUE_HTYPES
from hubcli.storage.credentials import Credentials, Source
from hubcli.storage.local import LocalStore
from hubcli.storage.resolve import open_store

if TYPE_CHECKING:
    from types import TracebackType

    from hubcli.format.segment import SampleRecord
    from hubcli.storage.base import Store

Creds = Mapping[str, Any] | None
#: A label tensor's small segments are merged when there are this many (so a whole
#: read costs a few requests however it was appended; issue 17).
MERGE_VALUES_AFTER = 4


class Dataset:
    """A hubcli dataset: named tensors of samples, stored at ``path``.

    A Dataset object sees the version that was newest when it was opened, plus its own
    commits; :meth:`refresh` moves it to the newest version.
    """

    def __init__(
        self, store: Store, manifest: Manifest, *, read_only: bool = False, pinned: bool = False
    ) -> None:
        self._store = store
        self._manifest = manifest
        self._read_only = read_only
        self._pinned = pinned  # an old version (load(version=N)): never moves, never writes
        self._cache = ReadCache()
        self._columns = ColumnCache()  # label tensors' decoded value columns
        self._populated: dict[str, Secrets] = {}  # this process only, never stored
        self._readers: dict[tuple[int, str], SampleReader | ValueReader] = {}
        self._links: dict[tuple[str, str, int, str], ByteSource] = {}  # verified linked objects
        self._message: str | None = None  # ds.commit(message): for the next commit made here

    # --- identity -----------------------------------------------------------------
    @property
    def path(self) -> str:
        """Where the dataset is stored (a folder or URL)."""
        return self._store.url

    @property
    def version(self) -> int:
        """The committed version this object shows."""
        return self._manifest.version

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def store(self) -> Store:
        return self._store

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def cache(self) -> ReadCache:
        return self._cache

    def refresh(self) -> None:
        """Show the newest committed version (other processes may have appended)."""
        if self._pinned:
            raise ReadOnlyError(
                f"this is version {self.version} of {self.path}, opened with version=",
                hint="load the dataset without version= to follow its newest version",
            )
        self._manifest = read_head(self._store)

    def newest_state(self) -> Manifest:
        """The newest committed state (without moving this object to it)."""
        return read_head(self._store)

    def log(self) -> list[dict[str, Any]]:
        """Every kept version, newest first: number, time, message and what changed
        (tensor, samples added/removed), from the commit records (format_spec/log.md)."""
        from hubcli.core.history import version_log

        return version_log(self._store)

    # --- tensors --------------------------------------------------------------------
    @property
    def tensors(self) -> dict[str, Tensor]:
        """Every tensor, by name, in creation order."""
        return {t.name: Tensor(self, t.name) for t in self._manifest.tensors}

    def create_tensor(
        self,
        name: str,
        htype: str = "video",
        sample_compression: str | None = None,
        *,
        class_names: Sequence[str] | None = None,
        fixed_class_names: bool = False,
        dtype: object = None,
        shape: Sequence[int] | None = None,
        exist_ok: bool = False,
        chunk_compression: str | None = None,
        max_chunk_size: int | None = None,
        create_shape_tensor: bool = True,
        create_sample_info_tensor: bool = True,
        create_id_tensor: bool = True,
    ) -> Tensor:
        """Create an empty tensor.

        Parameters
        ----------
        name
            1-64 letters, digits, ``_`` or ``-``, starting with a letter or ``_``.
        htype
            ``"video"`` or ``"link[video]"``; for labels and metadata ``"class_label"``,
            ``"text"``, ``"json"`` or ``"generic"`` (format_spec/values.md).
        sample_compression
            The container every sample must be: ``mp4``, ``mov``, ``mkv``, ``webm``, ``avi``.
            None (the default): ``mp4`` for ``video`` tensors, any container for
            ``link[video]`` tensors. Label tensors take none.
        class_names, fixed_class_names
            A ``class_label`` tensor's names (class k is ``class_names[k]``); unknown
            names appended later are added at the end unless ``fixed_class_names``.
        dtype, shape
            A ``generic`` tensor's element type (else that of its first sample) and
            fixed sample shape (else any shape per sample).
        exist_ok
            If a tensor ``name`` of this htype and compression exists, return it.
        chunk_compression, max_chunk_size, create_shape_tensor, create_sample_info_tensor, \
create_id_tensor
            Accepted for code written for Hub, and ignored: hubcli stores each video's
            bytes unchanged, in chunks cut per append, and keeps shapes, sample info and
            ids in its index, not in tensors of their own.

        Raises
        ------
        TensorExistsError, InvalidNameError, UnsupportedHtypeError, ReadOnlyError
        """
        validate_tensor_name(name)
        htype, compression = validate_htype(htype, sample_compression)
        info = None
        if htype in VALUE_HTYPES:
            info = check_options(htype, dtype, shape, class_names, fixed_class_names)
        elif class_names or fixed_class_names or dtype is not None or shape is not None:
            raise UnsupportedHtypeError(
                f"class_names=, dtype= and shape= apply to label tensors, not {htype}",
                hint="omit them, or pick htype class_label, text, json or generic",
            )
        if exist_ok and self._same_tensor(self._manifest, name, htype, compression):
            return Tensor(self, name)
        self.check_writable()
        # Objects left under tensors/<name>/ belong to a tensor that was dropped (or
        # renamed: see below); listed once, not on each retry of the commit.
        used = bool(self._store.list(keys.tensor_prefix(name)))

        def add(state: Manifest) -> Plan:
            if exist_ok and self._same_tensor(state, name, htype, compression):
                return Plan([])
            if state.tensor(name) is not None:
                raise TensorExistsError(
                    f"tensor {name!r} already exists in {self.path}", hint="pick another name"
                )
            directory = keys.tensor_dir(name, used or any(t.dir == name for t in state.tensors))
            return Plan([CreateTensor(name, htype, compression, directory, info)])

        self._commit(add)
        return Tensor(self, name)

    def _same_tensor(self, state: Manifest, name: str, htype: str, compression: str | None) -> bool:
        """Whether ``state`` has tensor ``name`` as asked (exist_ok); one that differs is
        an error."""
        meta = state.tensor(name)
        if meta is None:
            return False
        if (meta.htype, meta.sample_compression) != (htype, compression):
            have = f"{meta.htype}, {meta.sample_compression or 'any container'}"
            asked = f"{htype}, {compression or 'any container'}"
            raise TensorExistsError(
                f"tensor {name!r} already exists in {self.path} as {have}, not {asked}",
                hint="pick another name, or ask for the tensor as it is",
            )
        return True

    def delete_tensor(self, name: str) -> None:
        """Remove tensor ``name`` (one commit); ``gc`` frees its objects once no kept
        version needs them."""
        self.tensor_meta(name)

        def drop(state: Manifest) -> Plan:
            if state.tensor(name) is None:
                raise TensorNotFoundError(f"no tensor {name!r} in {self.path}")
            return Plan([DropTensor(name)])

        self._commit(drop)

    def rename_tensor(self, old: str, new: str) -> Tensor:
        """Rename tensor ``old`` to ``new`` (one commit; no object moves)."""
        self.tensor_meta(old)
        validate_tensor_name(new)

        def rename(state: Manifest) -> Plan:
            if state.tensor(old) is None:
                raise TensorNotFoundError(f"no tensor {old!r} in {self.path}")
            if state.tensor(new) is not None:
                raise TensorExistsError(
                    f"tensor {new!r} already exists in {self.path}", hint="pick another name"
                )
            return Plan([Rename(old, new)])

        self._commit(rename)
        return Tensor(self, new)

    def compact(self) -> bool:
        """Merge small segments and drop removed samples (one commit that changes no
        sample, frame or timestamp; nothing if nothing would change). Returns whether it
        committed. Commits also keep the metadata small on their own: this is the full
        merge (format_spec/log.md §8)."""
        from hubcli.core.compact import compact_change

        newest = self.newest_state().version
        self._commit(compact_change([], self.reader_of), message="compact")
        return self.version > newest

    def gc(
        self,
        keep_versions: int | None = None,
        older_than: float | None = None,
        safety_window: float = 3600,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Remove what no kept version needs (format_spec/log.md §9). Kept: the newest
        version, the newest ``keep_versions``, and those younger than ``older_than``
        seconds (neither: all of them). Objects younger than ``safety_window`` seconds
        are never removed, so appends in flight are safe. Returns what was removed."""
        from hubcli.core.gc import collect

        self.check_writable()
        compacted = False
        if not dry_run:
            # Compaction only makes what gc keeps smaller: if writers keep winning the
            # race, collect without it rather than fail.
            with contextlib.suppress(ConflictError):
                compacted = self.compact()
        report = collect(
            self._store,
            self.newest_state(),
            self.reader_of,
            keep_versions=keep_versions,
            older_than=older_than,
            safety_window=safety_window,
            dry_run=dry_run,
            compacted=compacted,
        )
        self.refresh()
        return report.to_dict()

    # --- segment trees (compaction, gc, verify) ------------------------------------------
    def reader_of(self, meta: TensorMeta) -> SampleReader | ValueReader:
        """A reader of any state's tensor (sharing this dataset's caches)."""
        if meta.holds_values:
            nodes = self._cache.node_reader(self._store)
            return ValueReader(self._store, meta, self._columns, nodes)
        return SampleReader(self._store, meta, self._cache, self.open_link)

    def reader(self, name: str) -> SampleReader:
        """The reader of video tensor ``name`` as of this object's manifest (kept: a
        training loop indexes samples millions of times)."""
        reader = self._kept_reader(name)
        if not isinstance(reader, SampleReader):
            raise UnsupportedHtypeError(
                f"tensor {name!r} holds {reader.htype} values, not videos",
                hint="read it with .numpy() or .data()",
            )
        return reader

    def value_reader(self, name: str) -> ValueReader:
        """The reader of label tensor ``name`` as of this object's manifest."""
        reader = self._kept_reader(name)
        if not isinstance(reader, ValueReader):
            raise UnsupportedHtypeError(f"tensor {name!r} holds videos, not values")
        return reader

    def _kept_reader(self, name: str) -> SampleReader | ValueReader:
        key = (self._manifest.version, name)
        reader = self._readers.get(key)
        if reader is None:
            reader = self.reader_of(self.tensor_meta(name))
            if len(self._readers) > 64:
                self.close()
                self._readers.clear()
            self._readers[key] = reader
        return reader

    def tensor_meta(self, name: str) -> TensorMeta:
        meta = self._manifest.tensor(name)
        if meta is None:
            known = ", ".join(t.name for t in self._manifest.tensors) or "none"
            raise TensorNotFoundError(f"no tensor {name!r} in {self.path} (tensors: {known})")
        return meta

    def __getitem__(self, name: Any) -> Any:
        """``ds["videos"]``: a tensor; ``ds[3]``, ``ds[2:5]``, ``ds[[1, 4]]``: rows
        (:class:`~hubcli.core.rows.RowView`), as in Hub."""
        if not isinstance(name, str):
            from hubcli.core.rows import rows_at

            return rows_at(self, name)
        self.tensor_meta(name)
        return Tensor(self, name)

    # --- rows -------------------------------------------------------------------------
    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row, ``{"videos": "a.mp4", "labels": "cat"}``: one sample to each
        named tensor, in one commit (all or nothing)."""
        from hubcli.core.rows import append_row

        append_row(self, row)

    def extend(self, rows: Mapping[str, Sequence[Any]], progress: Any = None) -> None:
        """Append rows given per tensor, ``{"videos": [...], "labels": [...]}`` (lists
        of one length), in one commit (all or nothing)."""
        from hubcli.core.rows import extend_rows

        extend_rows(self, rows, progress)

    def info(self) -> dict[str, Any]:
        """Path, version, rows (``len(ds)``) and each tensor's htype and length; a
        ``note`` when tensors have different lengths (rows are the shortest)."""
        tensors: dict[str, dict[str, Any]] = {}
        for t in self._manifest.tensors:
            extra = {} if t.info is None else t.info.to_dict()
            tensors[t.name] = {"htype": t.htype, "length": t.length, **extra}
        doc: dict[str, Any] = {
            "path": self.path,
            "version": self.version,
            "rows": len(self),
            "tensors": tensors,
        }
        lengths = sorted({t["length"] for t in tensors.values()})
        if len(lengths) > 1:
            doc["note"] = (
                f"tensors have different lengths ({', '.join(map(str, lengths))}): "
                f"the dataset has {len(self)} rows"
            )
        return doc

    def __getattr__(self, name: str) -> Tensor:
        # Only called for names that are not attributes: ds.videos -> ds["videos"].
        if name.startswith("_") or self.__dict__.get("_manifest") is None:
            raise AttributeError(name)
        if self._manifest.tensor(name) is None:
            raise AttributeError(f"{type(self).__name__!s} has no attribute or tensor {name!r}")
        return Tensor(self, name)

    def select(self, selector: str) -> Any:
        """What a selector string names: ``"videos"`` (the tensor), ``"videos[0]"``,
        ``"videos[0, 100:200:5]"``, ``"videos[0:3]"``... (format_spec/selectors.md): a
        Tensor, SampleView or SamplesView (ValueView or ValuesView of a label tensor)."""
        parsed = parse_selector(selector)
        tensor = self[parsed.tensor]
        if not parsed.index:
            return tensor
        return tensor[parsed.index if len(parsed.index) > 1 else parsed.index[0]]

    def visualize(self) -> str:
        """Serve a page that browses the whole dataset (tensors, samples, their info, a
        thumbnail and a player each) and open it in the browser, or inline in Jupyter.
        Returns the page's URL."""
        return player().visualize(self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._manifest.tensor(name) is not None

    def __len__(self) -> int:
        """The length of the shortest tensor (0 without tensors), as in Hub."""
        return min((t.length for t in self._manifest.tensors), default=0)

    def __enter__(self) -> Dataset:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.flush()
        self.close()

    def flush(self) -> None:
        """Nothing to do, as in Hub after a write: every write here is already committed."""

    def close(self) -> None:
        """End the threads that reads keep for the next read (a later read starts them
        again): leaving ``with hubcli.load(...) as ds:`` does this."""
        for reader in self._readers.values():
            if isinstance(reader, SampleReader):
                reader.close()

    def __repr__(self) -> str:
        tensors = ", ".join(f"{t.name}[{t.length}]" for t in self._manifest.tensors)
        return f"Dataset(path={self.path!r}, version={self.version}, tensors=[{tensors}])"

    # --- writing --------------------------------------------------------------------
    def check_writable(self) -> None:
        if self._pinned:
            raise ReadOnlyError(
                f"{self.path} is open at its old version {self.version}, which cannot change",
                hint="load it without version= to write",
            )
        if self._read_only:
            raise ReadOnlyError(
                f"{self.path} was opened read-only", hint="load it with read_only=False to write"
            )

    # --- credentials keys (format_spec/links.md §3) -----------------------------------
    @property
    def creds_keys(self) -> list[dict[str, Any]]:
        """Each key's name, whether it is managed, whether secrets are available to this
        process, and for a managed key the location its stored secrets are bound to (this
        dataset's URL or real path). Never the secrets."""
        return [
            {
                "name": k.name,
                "managed": k.managed,
                "populated": self._has_secrets(k.name),
                "bound_to": location_of(self.path) if k.managed else None,
            }
            for k in self._manifest.creds_keys
        ]

    def add_creds_key(self, name: str, managed: bool = False) -> None:
        """Register a credentials key *name* in the dataset (no secrets are stored).

        ``managed=True``: its secrets, once populated, are kept in this user's credential
        store, so later processes and CLI commands find them.
        """
        self.check_writable()
        check_key_name(name)

        def add(state: Manifest) -> Plan:
            key = state.creds_key(name)
            if key is not None:
                hint = None
                if managed and not key.managed:
                    hint = f"to make it managed: ds.change_creds_management({name!r}, True)"
                raise CredentialsError(
                    f"creds key {name!r} already exists in {self.path}", hint=hint
                )
            return Plan([AddCredsKey(name, bool(managed))])

        self._commit(add)

    def change_creds_management(self, creds_key: str, managed: bool) -> bool:
        """Make key ``creds_key`` managed (one commit; nothing if it is already). Returns
        whether it committed. A managed key cannot be made unmanaged: the format keeps
        no such change; forget its secrets here with ``hubcli creds remove``."""
        key = self._known_key(creds_key)
        if not managed:
            if key.managed:
                raise CredentialsError(
                    f"creds key {creds_key!r} is managed, and a managed key stays managed",
                    hint=f"to forget its secrets on this machine: hubcli creds remove "
                    f"{self.path} {creds_key}",
                )
            return False
        self.check_writable()
        newest = self.newest_state().version

        def manage(state: Manifest) -> Plan:
            now = state.creds_key(creds_key)
            if now is None:
                raise CredentialsError(f"creds key {creds_key!r} no longer exists in {self.path}")
            return Plan([] if now.managed else [ManageCredsKey(creds_key)])

        self._commit(manage)
        return self.version > newest

    def get_creds_keys(self) -> list[str]:
        """The names of the credentials keys, as in Hub."""
        return [k.name for k in self._manifest.creds_keys]

    def populate_creds(self, name: str, creds: Mapping[str, str]) -> None:
        """Give key ``name`` its secrets: for this process, and for a managed key also
        in this user's credential store (mode 0600), bound to this dataset's id and
        location: a copy elsewhere does not get them. Fields: ``aws_access_key_id``,
        ``aws_secret_access_key``, ``aws_session_token``, ``endpoint_url``, ``region``,
        ``profile`` (S3); ``token`` (GCS or Google Drive), ``project`` (GCS)."""
        key = self._known_key(name)
        secrets = parse_secrets(creds, name)
        if key.managed:
            save_managed(self._manifest.dataset_id, self.path, name, secrets)
        self._populated[name] = secrets
        self._links.clear()

    def _known_key(self, name: str) -> CredsKey:
        key = self._manifest.creds_key(name)
        if key is None:
            known = ", ".join(k.name for k in self._manifest.creds_keys) or "none"
            raise CredentialsError(
                f"creds key {name!r} was not added to {self.path} (keys: {known})",
                hint=f"add it with ds.add_creds_key({name!r}) "
                f"or: hubcli creds add {self.path} {name}",
            )
        return key

    def _has_secrets(self, name: str) -> bool:
        key = self._manifest.creds_key(name)
        return name in self._populated or bool(
            key and key.managed and load_managed(self._manifest.dataset_id, self.path, name)
        )

    def credentials_for(self, name: str | None) -> Credentials:
        """The credentials of a sample's creds key: None reads anonymously, ``ENV`` with
        the environment's, a populated key with its secrets."""
        if name is None:
            return Credentials.anonymous()
        if name == ENV:
            return Credentials.environment()
        key = self._known_key(name)
        if name in self._populated:
            return Credentials.explicit(self._populated[name])
        if key.managed and (stored := load_managed(self._manifest.dataset_id, self.path, name)):
            return Credentials.explicit(stored)
        if not key.managed:
            hint = f"call ds.populate_creds({name!r}, {{...}}) in this process"
            raise CredentialsError(f"creds key {name!r} is not populated", hint=hint)
        # Managed secrets are bound to where the dataset is: a moved or copied dataset
        # (or a hostile one reusing this id) has none until populated there.
        raise CredentialsError(
            f"creds key {name!r} is not populated for {location_of(self.path)}",
            hint=f"run: hubcli creds populate {self.path} {name} --env (or --file CREDS.json)",
        )

    def secrets_for(self, name: str | None) -> tuple[Mapping[str, Any] | None, bool]:
        """:meth:`credentials_for` in its 0.2 shape: (secrets, use the environment)."""
        creds = self.credentials_for(name)
        if creds.source is Source.ENVIRONMENT:
            return None, True
        return creds.secrets, False

    def open_link(self, record: SampleRecord, label: str) -> ByteSource:
        """The bytes of a linked sample, its object's identity checked once per object."""
        assert record.link is not None
        link = record.link
        cache_key = (link.url, link.creds_key or "", record.size, link.etag or link.modified or "")
        source = self._links.get(cache_key)
        if source is None:
            source = open_link(record, label, self.credentials_for)
            self._links[cache_key] = source
        return source

    def commit(self, message: str | None = None) -> int:
        """Hub's ``ds.commit``: in hubcli every write is already a commit, so this makes
        no version. ``message`` is recorded in the next commit made through this object
        (``ds.log()``, ``hubcli log``). Returns the version this object shows."""
        if message is not None and not isinstance(message, str):
            raise TypeError(f"message must be a str, not {type(message).__name__}")
        self.check_writable()
        if message is not None:
            self._message = message
        return self.version

    def merge_small_values(self, names: Sequence[str]) -> None:
        """Label tensors appended to a few values at a time would cost one request per
        append to read whole (a segment each): once one has MERGE_VALUES_AFTER small
        segments, they are merged into one, by a commit of its own (as ``compact``
        makes: same values). Best effort: losing the race to another writer skips it.
        Deciding reads nothing: appends land unsealed, in the state, and are merged long
        before a node would seal them."""
        from hubcli.core.compact import compact_change, small_unsealed_segments

        metas = [m for m in map(self._manifest.tensor, names) if m is not None]
        due = [
            m.name
            for m in metas
            if m.holds_values and small_unsealed_segments(m.layout) >= MERGE_VALUES_AFTER
        ]
        if due:
            with contextlib.suppress(ConflictError):
                self._commit(compact_change(due, self.reader_of), message="merge label segments")

    def _commit(
        self, change: Change, written: Written | None = None, message: str | None = None
    ) -> None:
        """Commit ``change`` on top of the newest version (see core/commit.py), with the
        message given to :meth:`commit`, if any, else ``message``."""
        self.check_writable()
        planned = False

        def observed(state: Manifest) -> Plan:
            nonlocal planned
            plan = change(state)
            planned = bool(plan.ops)  # the last plan is the one committed
            return plan

        text = self._message if self._message is not None else message
        new = commit(self._store, self._manifest, observed, written=written, message=text)
        self._manifest = new
        if not planned:
            return
        self._message = None
        if new.anchor == new.version:  # this commit wrote the anchor: it upgraded the format
            warnings.warn(
                f"upgraded {self.path} to format {new.format_version} (hubcli before 0.3 "
                "cannot read it)",
                HubcliWarning,
                stacklevel=3,
            )


def _new_manifest() -> Manifest:
    return Manifest(dataset_id=keys.new_object_id(), version=0, created_at=now(), anchor=0)


def empty(path: str | os.PathLike[str], overwrite: bool = False, creds: Creds = None) -> Dataset:
    """Create an empty dataset at ``path``.

    Parameters
    ----------
    path
        A local folder (created if missing; if it exists it must be empty or hold a
        hubcli dataset).
    overwrite
        Replace an existing hubcli dataset. Never removes anything that is not part of
        a hubcli dataset.
    creds
        Credentials for remote storage.

    Raises
    ------
    DatasetExistsError
        A dataset exists and ``overwrite`` is false, or ``path`` holds other files.
    """
    store = open_store(path, creds)
    _check_can_create(store, overwrite)
    manifest = _new_manifest()
    try:
        # The anchor (format_spec/log.md §7) is the dataset's version 0: creating it is
        # creating the dataset.
        store.put_if_absent(keys.version_key(0), encode_anchor(manifest))
    except FileExistsError:
        raise DatasetExistsError(
            f"{store.url}: another process created a dataset here at the same time"
        ) from None
    with contextlib.suppress(OSError):  # the hint is a cache (format_spec/log.md §5)
        store.put(keys.HINT_KEY, encode_state(manifest))
    return Dataset(store, manifest)


def _check_can_create(store: Store, overwrite: bool) -> None:
    keys_here = store.list()
    others = [k for k in keys_here if not k.startswith(keys.FORMAT_PREFIXES)]
    if not dataset_exists(store):
        if others:
            raise DatasetExistsError(
                f"{store.url} is not empty and holds no hubcli dataset (e.g. {others[0]!r})",
                hint="choose a new or empty folder; hubcli never overwrites other files",
            )
        # Only unreachable leftovers of an interrupted overwrite (format_spec/commit.md):
        # no dataset exists here, so clear them and create one. Only the keys seen
        # above: a dataset another process creates meanwhile is not touched.
        for key in keys_here:
            store.delete(key)
        return
    if not overwrite:
        raise DatasetExistsError(
            f"a hubcli dataset already exists at {store.url}",
            hint="to replace it, pass --overwrite (Python: overwrite=True)",
        )
    # Only the format's own keys go; anything else in the folder is left alone.
    remove_dataset(store)


def remove_dataset(store: Store) -> None:
    """Delete a dataset's keys (format_spec/commit.md §4): the hint first, then every
    manifest (the dataset no longer exists once the last is gone), then the log,
    checkpoints and objects, which nothing reaches any more. Everything is listed before
    anything is deleted, so a listing that refuses an entry (a link, a special file)
    leaves the dataset whole."""
    doomed = [keys.HINT_KEY]
    for prefix in keys.FORMAT_PREFIXES:
        doomed += [k for k in store.list(prefix) if k != keys.HINT_KEY]
    for key in doomed:
        store.delete(key)


def load(
    path: str | os.PathLike[str],
    creds: Creds = None,
    read_only: bool = False,
    version: int | None = None,
) -> Dataset:
    """Open the dataset at ``path``: its newest version, or ``version`` (read-only).

    Raises
    ------
    DatasetNotFoundError
        ``path`` holds no hubcli dataset.
    VersionError
        ``version`` does not exist, or garbage collection removed it.
    UnsupportedFormatError
        It was written by a newer, incompatible hubcli.
    """
    store = open_store(path, creds)
    if version is None:
        return Dataset(store, _head(store), read_only=read_only)
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"version must be an int, not {type(version).__name__}")
    return Dataset(store, read_version(store, version), read_only=True, pinned=True)


def _head(store: Store) -> Manifest:
    """The newest state; where there is no dataset, an error that says what to do."""
    try:
        return read_head(store)
    except DatasetNotFoundError:
        other = _first_other_entry(store)
        if other is None:
            raise
    # `hubcli create` there would fail too: it never writes into a folder of other files.
    raise DatasetNotFoundError(
        f"no hubcli dataset at {store.url}: the folder holds other files (e.g. {other!r})",
        hint="give the folder of a hubcli dataset; to create one, choose a new or empty folder",
    )


def _first_other_entry(store: Store) -> str | None:
    """A name in a local dataset's folder that no dataset has (one level, not a walk:
    the folder may be a home folder)."""
    if not isinstance(store, LocalStore):
        return None
    roots = {prefix.rstrip("/") for prefix in keys.FORMAT_PREFIXES}
    try:
        with os.scandir(store.root) as entries:
            return next((e.name for e in entries if e.name not in roots), None)
    except OSError:
        return None


def dataset(
    path: str | os.PathLike[str],
    creds: Creds = None,
    overwrite: bool = False,
    read_only: bool = False,
) -> Dataset:
    """Open the dataset at ``path``, creating an empty one if there is none (as Hub's
    ``hub.dataset``). ``overwrite=True`` replaces an existing hubcli dataset with an
    empty one; ``read_only=True`` opens one that must exist, for reading only."""
    if overwrite and read_only:
        raise ReadOnlyError(
            f"cannot overwrite {os.fspath(path)} and open it read-only",
            hint="pass overwrite=True or read_only=True, not both",
        )
    if overwrite:
        return empty(path, overwrite=True, creds=creds)
    store = open_store(path, creds)
    if dataset_exists(store):
        return Dataset(store, read_head(store), read_only=read_only)
    if read_only:
        raise DatasetNotFoundError(
            f"no hubcli dataset at {store.url} to open read-only",
            hint="create it first (hubcli.empty), or drop read_only=True",
        )
    return empty(path, creds=creds)
