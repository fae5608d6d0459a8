"""Datasets: opening, creating, and the tensors they hold."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import Change, Plan, Written, commit, now
from hubcli.core.links import open_link
from hubcli.core.playback import player
from hubcli.core.reader import ByteSource, ReadCache, SampleReader
from hubcli.core.tensor import Tensor
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
    ReadOnlyError,
    TensorExistsError,
    TensorNotFoundError,
)
from hubcli.format import keys
from hubcli.format.log import AddCredsKey, CreateTensor, DropTensor, Rename
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
from hubcli.storage.resolve import open_store

if TYPE_CHECKING:
    import os

    from hubcli.core.sample import SamplesView, SampleView
    from hubcli.format.segment import SampleRecord
    from hubcli.storage.base import Store

Creds = Mapping[str, Any] | None


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
        self._populated: dict[str, Secrets] = {}  # this process only, never stored
        self._readers: dict[tuple[int, str], SampleReader] = {}
        self._links: dict[tuple[str, str, int, str], ByteSource] = {}  # verified linked objects

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
        self, name: str, htype: str = "video", sample_compression: str | None = None
    ) -> Tensor:
        """Create an empty tensor.

        Parameters
        ----------
        name
            1-64 letters, digits, ``_`` or ``-``, starting with a letter or ``_``.
        htype
            ``"video"``.
        sample_compression
            The container every sample must be: ``mp4``, ``mov``, ``mkv``, ``webm``, ``avi``.
            None (the default): ``mp4`` for ``video`` tensors, any container for
            ``link[video]`` tensors.

        Raises
        ------
        TensorExistsError, InvalidNameError, UnsupportedHtypeError, ReadOnlyError
        """
        self.check_writable()
        validate_tensor_name(name)
        htype, compression = validate_htype(htype, sample_compression)

        def add(state: Manifest) -> Plan:
            if state.tensor(name) is not None:
                raise TensorExistsError(
                    f"tensor {name!r} already exists in {self.path}", hint="pick another name"
                )
            # Its objects go to tensors/<name>/, which the name may share with a tensor
            # that was dropped or renamed: object ids are random, so they never collide.
            return Plan([CreateTensor(name, htype, compression, name)])

        self.commit(add)
        return Tensor(self, name)

    def delete_tensor(self, name: str) -> None:
        """Remove tensor ``name`` (one commit); ``gc`` frees its objects once no kept
        version needs them."""
        self.tensor_meta(name)

        def drop(state: Manifest) -> Plan:
            if state.tensor(name) is None:
                raise TensorNotFoundError(f"no tensor {name!r} in {self.path}")
            return Plan([DropTensor(name)])

        self.commit(drop)

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

        self.commit(rename)
        return Tensor(self, new)

    def compact(self) -> bool:
        """Merge small segments and drop removed samples (one commit that changes no
        sample, frame or timestamp; nothing if nothing would change). Returns whether it
        committed. Commits also keep the metadata small on their own: this is the full
        merge (format_spec/log.md §8)."""
        from hubcli.core.compact import compact_change

        newest = self.newest_state().version
        self.commit(compact_change([], self.reader_of), message="compact")
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
    def reader_of(self, meta: TensorMeta) -> SampleReader:
        """A reader of any state's tensor (sharing this dataset's cache)."""
        return SampleReader(self._store, meta, self._cache, self.open_link)

    def reader(self, name: str) -> SampleReader:
        """The reader of tensor ``name`` as of this object's manifest (kept: a training
        loop indexes samples millions of times)."""
        key = (self._manifest.version, name)
        reader = self._readers.get(key)
        if reader is None:
            reader = SampleReader(self._store, self.tensor_meta(name), self._cache, self.open_link)
            if len(self._readers) > 64:
                self._readers.clear()
            self._readers[key] = reader
        return reader

    def tensor_meta(self, name: str) -> TensorMeta:
        meta = self._manifest.tensor(name)
        if meta is None:
            known = ", ".join(t.name for t in self._manifest.tensors) or "none"
            raise TensorNotFoundError(f"no tensor {name!r} in {self.path} (tensors: {known})")
        return meta

    def __getitem__(self, name: str) -> Tensor:
        if not isinstance(name, str):
            raise TypeError(f"datasets are indexed by tensor name, not {type(name).__name__}")
        self.tensor_meta(name)
        return Tensor(self, name)

    def __getattr__(self, name: str) -> Tensor:
        # Only called for names that are not attributes: ds.videos -> ds["videos"].
        if name.startswith("_") or self.__dict__.get("_manifest") is None:
            raise AttributeError(name)
        if self._manifest.tensor(name) is None:
            raise AttributeError(f"{type(self).__name__!s} has no attribute or tensor {name!r}")
        return Tensor(self, name)

    def select(self, selector: str) -> Tensor | SampleView | SamplesView:
        """What a selector string names: ``"videos"`` (the tensor), ``"videos[0]"``,
        ``"videos[0, 100:200:5]"``, ``"videos[0:3]"``... (format_spec/selectors.md)."""
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
            if state.creds_key(name) is not None:
                raise CredentialsError(f"creds key {name!r} already exists in {self.path}")
            return Plan([AddCredsKey(name, bool(managed))])

        self.commit(add)

    def populate_creds(self, name: str, creds: Mapping[str, str]) -> None:
        """Give key ``name`` its secrets: for this process, and for a managed key also
        in this user's credential store (mode 0600), bound to this dataset's id and
        location: a copy elsewhere does not get them. Fields: ``aws_access_key_id``,
        ``aws_secret_access_key``, ``aws_session_token``, ``endpoint_url``, ``region``,
        ``token`` (GCS or Google Drive)."""
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

    def secrets_for(self, name: str | None) -> tuple[Mapping[str, Any] | None, bool]:
        """(secrets, use the environment) for a sample's creds key."""
        if name is None:
            return {}, False
        if name == ENV:
            return None, True
        key = self._known_key(name)
        if name in self._populated:
            return self._populated[name], False
        if key.managed and (stored := load_managed(self._manifest.dataset_id, self.path, name)):
            return stored, False
        if not key.managed:
            hint = f"call ds.populate_creds({name!r}, {{...}}) in this process"
            raise CredentialsError(f"creds key {name!r} is not populated", hint=hint)
        # Managed secrets are bound to where the dataset is: a moved or copied dataset
        # (or a hostile one reusing this id) has none until populated there.
        raise CredentialsError(
            f"creds key {name!r} is not populated for {location_of(self.path)}",
            hint=f"run: hubcli creds populate {self.path} {name} --env (or --file CREDS.json)",
        )

    def open_link(self, record: SampleRecord, label: str) -> ByteSource:
        """The bytes of a linked sample, its object's identity checked once per object."""
        assert record.link is not None
        link = record.link
        cache_key = (link.url, link.creds_key or "", record.size, link.etag or link.modified or "")
        source = self._links.get(cache_key)
        if source is None:
            source = open_link(record, label, self.secrets_for)
            self._links[cache_key] = source
        return source

    def commit(
        self, change: Change, written: Written | None = None, message: str | None = None
    ) -> None:
        """Commit ``change`` on top of the newest version (see core/commit.py)."""
        self.check_writable()
        self._manifest = commit(
            self._store, self._manifest, change, written=written, message=message
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
        return Dataset(store, read_head(store), read_only=read_only)
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"version must be an int, not {type(version).__name__}")
    return Dataset(store, read_version(store, version), read_only=True, pinned=True)


def dataset(path: str | os.PathLike[str], creds: Creds = None) -> Dataset:
    """Open the dataset at ``path``, creating an empty one if there is none."""
    store = open_store(path, creds)
    if not dataset_exists(store):
        return empty(path, creds=creds)
    return Dataset(store, read_head(store))
