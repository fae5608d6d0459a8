"""Datasets: opening, creating, and the tensors they hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hubcli.core.commit import commit, latest_version, now, read_latest_manifest, remove_dataset
from hubcli.core.links import open_link
from hubcli.core.playback import player
from hubcli.core.reader import ByteSource, ReadCache, SampleReader
from hubcli.core.tensor import Tensor
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
    CredentialsError,
    DatasetExistsError,
    ReadOnlyError,
    TensorExistsError,
    TensorNotFoundError,
)
from hubcli.format import keys
from hubcli.format.manifest import (
    CredsKey,
    Manifest,
    TensorMeta,
    encode_manifest,
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

    def __init__(self, store: Store, manifest: Manifest, *, read_only: bool = False) -> None:
        self._store = store
        self._manifest = manifest
        self._read_only = read_only
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
        self._manifest = read_latest_manifest(self._store)

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

        def add(manifest: Manifest) -> Manifest:
            if manifest.tensor(name) is not None:
                raise TensorExistsError(
                    f"tensor {name!r} already exists in {self.path}", hint="pick another name"
                )
            return manifest.with_tensor(TensorMeta(name, htype, compression, 0))

        self.commit(add)
        return Tensor(self, name)

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

        def add(manifest: Manifest) -> Manifest:
            if manifest.creds_key(name) is not None:
                raise CredentialsError(f"creds key {name!r} already exists in {self.path}")
            return replace(
                manifest, creds_keys=(*manifest.creds_keys, CredsKey(name, bool(managed)))
            )

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

    def commit(self, change: Callable[[Manifest], Manifest]) -> None:
        """Commit ``change`` on top of the newest version (see core/commit.py)."""
        self._manifest = commit(self._store, self._manifest, change)


def _new_manifest() -> Manifest:
    return Manifest(dataset_id=keys.new_object_id(), version=0, created_at=now())


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
        store.put_if_absent(keys.version_key(0), encode_manifest(manifest))
    except FileExistsError:
        raise DatasetExistsError(
            f"{store.url}: another process created a dataset here at the same time"
        ) from None
    return Dataset(store, manifest)


def _check_can_create(store: Store, overwrite: bool) -> None:
    keys_here = store.list()
    others = [k for k in keys_here if not k.startswith((keys.VERSIONS_PREFIX, keys.TENSORS_PREFIX))]
    if latest_version(store) is None:
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


def load(path: str | os.PathLike[str], creds: Creds = None, read_only: bool = False) -> Dataset:
    """Open the dataset at ``path``.

    Raises
    ------
    DatasetNotFoundError
        ``path`` holds no hubcli dataset.
    UnsupportedFormatError
        It was written by a newer, incompatible hubcli.
    """
    store = open_store(path, creds)
    return Dataset(store, read_latest_manifest(store), read_only=read_only)


def dataset(path: str | os.PathLike[str], creds: Creds = None) -> Dataset:
    """Open the dataset at ``path``, creating an empty one if there is none."""
    store = open_store(path, creds)
    if latest_version(store) is None:
        return empty(path, creds=creds)
    return Dataset(store, read_latest_manifest(store))
