"""Sample views: ``tensor[i]`` / ``tensor[i, frames]`` and ``tensor[a:b]``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.core.frame_index import normalize_positions, selected_count
from hubcli.core.packets import decode_pictures
from hubcli.core.playback import player
from hubcli.errors import FrameIndexError, InvalidSampleError, RaggedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    # numpy is imported by the functions that use it: `hubcli.load` and `hubcli info`
    # start without it (issue #15, tests/cli/test_startup.py).
    import numpy as np

    from hubcli.core.lookup import SampleLocation, SampleReader
    from hubcli.core.tensor import Tensor
    from hubcli.format.segment import SampleRecord
    from hubcli.video.decode import Box, Converter, Picture


@dataclass(frozen=True, slots=True)
class Resolved:
    """A sample looked up once: the reader of its tensor and where the sample is (its
    record, segment and chunk). Everything a view reads goes through these."""

    reader: SampleReader
    location: SampleLocation


class SampleView:
    """One sample, optionally restricted to some frames (and pixels) by ``rest``. The
    sample is looked up on first use, once; views indexed from this one share that."""

    def __init__(
        self, tensor: Tensor, index: int, rest: tuple[Any, ...], resolved: Resolved | None = None
    ) -> None:
        self.tensor = tensor
        self.index = index
        self.rest = rest
        self._resolved = resolved

    @property
    def where(self) -> str:
        return f"{self.tensor.name}[{self.index}]"

    @property
    def resolved(self) -> Resolved:
        """The sample's reader and location, looked up on first use."""
        if self._resolved is None:
            reader = self.tensor.reader()
            self._resolved = Resolved(reader, reader.locate(self.index))
        return self._resolved

    def record(self) -> SampleRecord:
        return self.resolved.location.record

    def _frames(self) -> tuple[np.ndarray, bool]:
        n = self.record().shape[0]
        return normalize_positions(self.rest[0] if self.rest else Ellipsis, n, "frame", self.where)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(frames, height, width, 3)`` of the selection, from the index alone."""
        n, h, w, c = self.record().shape
        first = self.rest[0] if self.rest else Ellipsis
        count, scalar = selected_count(first, n, "frame", self.where)
        base: tuple[int, ...] = (h, w, c) if scalar else (count, h, w, c)
        if len(self.rest) <= 1:
            return base
        import numpy as np  # pixel indices only: `hubcli shape` starts without it

        # Pixel indices: let numpy work out the shape on a zero-size stand-in.
        stand_in = np.broadcast_to(np.zeros((), np.uint8), base)
        shape: tuple[int, ...] = self._index_pixels(stand_in, scalar).shape
        return shape

    def _index_pixels(self, frames: np.ndarray, scalar: bool) -> np.ndarray:
        """Indices after the frame index apply to each frame (the frame axis stays);
        numpy's own errors become ours, naming the sample."""
        index = self.rest[1:] if scalar else (slice(None), *self.rest[1:])
        try:
            selected: np.ndarray = frames[index]
        except (IndexError, TypeError, ValueError) as exc:
            raise FrameIndexError(
                f"cannot index the pixels of {self.where} with {self.rest[1:]!r}: {exc}"
            ) from None
        return selected

    @property
    def sample_info(self) -> dict[str, Any]:
        """Metadata, without decoding or reading video bytes, nor any network for a link
        (keys as in Hub, plus ``codec``, ``pix_fmt``, ``size``; links add ``url`` and
        ``creds_key``)."""
        rec = self.record()
        num, den = rec.time_base
        return {
            "duration": rec.duration,
            "fps": rec.fps,
            "timebase": num / den,
            "shape": list(rec.shape),
            "format": rec.format,
            "filename": rec.filename,
            "modified": False,
            "codec": rec.codec.name,
            "pix_fmt": rec.codec.pix_fmt,
            "size": rec.size,
            **({"url": rec.link.url, "creds_key": rec.link.creds_key} if rec.link else {}),
        }

    @property
    def timestamp(self) -> np.ndarray | float:
        """Presentation timestamps in seconds of exactly the frames ``numpy()`` returns:
        ``float64(pts) * num / den``, as PyAV's ``frame.time`` computes them."""
        import numpy as np

        frames, scalar = self._frames()
        reader, loc = self.resolved.reader, self.resolved.location
        table = reader.frame_table(loc)
        num, den = loc.record.time_base
        seconds = table.frame_pts[frames].astype(np.float64) * num / den
        return float(seconds[0]) if scalar else seconds

    def numpy(
        self,
        aslist: bool = False,
        *,
        threads: int | None = None,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Sequence[int] | None = None,
    ) -> np.ndarray:
        """The selected frames, ``uint8`` RGB, decoding only what they need. ``aslist``
        is accepted as Hub's is: one sample is one array either way. ``threads``:
        decoder threads for this call (None: ``hubcli.config.decoder_threads``; 0:
        FFmpeg picks from the core count).

        ``crop``: ``(top, left, height, width)`` in source pixels, and ``size``:
        ``(height, width)`` of every frame, are applied by swscale in the same pass that
        converts to RGB (the crop only moves the planes' data pointers), not after it;
        ``interpolation``: swscale's algorithm for the scaling ("bilinear", "bicubic",
        "area", "nearest", "lanczos", ...)."""
        import numpy as np

        frames, scalar = self._frames()
        convert = self.converter(size, interpolation, crop)
        if len(self.rest) > 1:
            if (size, crop) != (None, None):
                raise FrameIndexError(
                    f"{self.where}: size= and crop= take whole frames; they cannot go with "
                    f"a pixel index",
                    hint="index pixels of the scaled frames in numpy instead",
                )
            _ = self.shape  # a bad pixel index fails here, before any decoding
        rgb = self._decode(frames, threads, convert, size, crop)
        result = rgb[0] if scalar else rgb
        if len(self.rest) > 1:
            return np.ascontiguousarray(self._index_pixels(result, scalar))
        return result

    def converter(
        self,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Sequence[int] | None = None,
    ) -> Converter:
        """The RGB conversion of this sample's pictures (for :meth:`pictures` and
        ``Picture.rgb``), its arguments checked first: a crop box must lie inside the
        sample's frames. Nothing is decoded."""
        size = None if size is None else check_size(size)
        interpolation = check_interpolation(interpolation)
        _, h, w, _ = self.record().shape
        box = None if crop is None else check_crop(crop, (h, w), self.where)
        from hubcli.video.decode import Converter  # PyAV loads with the first decode

        return Converter(size, interpolation, box)

    def data(self) -> dict[str, Any]:
        return {"frames": self.numpy(), "timestamps": self.timestamp}

    def _decode(
        self,
        frames: np.ndarray,
        threads: int | None,
        convert: Converter,
        size: tuple[int, int] | None = None,
        crop: Sequence[int] | None = None,
    ) -> np.ndarray:
        import numpy as np

        _, h, w, c = self.record().shape
        if crop is not None:
            h, w = int(crop[2]), int(crop[3])
        if size is not None:
            h, w = size
        # The frame table is read (and checked against the shape) before the output is
        # allocated, so a frame count declared by a damaged segment allocates nothing.
        self.resolved.reader.frame_table(self.resolved.location)
        out = np.empty((len(frames), h, w, c), dtype=np.uint8)
        for positions, picture in self.pictures(frames, threads=threads, convert=convert):
            first = picture.rgb(out[positions[0]])  # converted straight into place
            for pos in positions[1:]:
                out[pos] = first
        return out

    def pictures(
        self,
        frames: np.ndarray,
        size: tuple[int, int] | None = None,
        threads: int | None = None,
        *,
        convert: Converter | None = None,
    ) -> Iterator[tuple[list[int], Picture]]:
        """Decode ``frames`` (positions in this sample) and yield ``(positions,
        picture)`` once per distinct frame, as soon as it is decoded, with every position
        of the request it fills; ``picture.rgb(out)`` converts it (scaled to ``size``,
        ``(height, width)``, if given; or as ``convert``, from :meth:`converter`, says).
        Holds one frame at a time: exports stream through this. ``threads``: as in
        :meth:`numpy`."""
        reader, loc = self.resolved.reader, self.resolved.location
        table = reader.frame_table(loc)
        _, h, w, c = loc.record.shape
        slots: defaultdict[int, list[int]] = defaultdict(list)
        for pos, packet in enumerate(table.frame_packet[frames].tolist()):
            slots[packet].append(pos)
        decoded = decode_pictures(
            loc.record.codec,
            table,
            frames,
            reader.byte_source(loc),
            ahead=reader.read_ahead,
            where=self.where,
            size=size,
            threads=threads,
        )
        for packet, picture in decoded:
            if picture.shape != (h, w, c):
                raise InvalidSampleError(
                    f"{self.where}: a decoded frame is {picture.shape[1]}x{picture.shape[0]}, "
                    f"not {w}x{h}"
                )
            yield slots[packet], picture if convert is None else picture.using(convert)

    def keyframe_runs(self) -> np.ndarray:
        """Where this sample's keyframe runs begin, as frame numbers (presentation
        order), then its frame count: run ``r`` is frames ``runs[r]..runs[r+1]-1``, the
        frames whose decoding starts at the same keyframe, so a run decodes on its own
        and no two runs decode the same packets twice. From the stored frame table:
        nothing is decoded."""
        import numpy as np

        # Imported here: reading metadata (`hubcli info`) must not load the video stack.
        from hubcli.video.plan import start_packets

        table = self.resolved.reader.frame_table(self.resolved.location)
        n = table.frame_count
        if n == 0:
            return np.zeros(1, dtype=np.int64)
        starts = start_packets(table, np.arange(n, dtype=np.int64))
        changes = np.flatnonzero(np.diff(starts)) + 1
        return np.concatenate([[0], changes, [n]]).astype(np.int64)

    def decode_each(
        self,
        frames: np.ndarray,
        put: Callable[[list[int], Picture], None],
        size: tuple[int, int] | None = None,
        *,
        convert: Converter | None = None,
    ) -> None:
        """:meth:`pictures`, handed to ``put(positions, picture)`` one by one."""
        for positions, picture in self.pictures(frames, size, convert=convert):
            put(positions, picture)

    def frame_positions(self) -> tuple[np.ndarray, bool]:
        """The selected frame numbers (request order) and whether one int selected them."""
        return self._frames()

    def play(self) -> str:
        """Serve this video on a local page (127.0.0.1, a random token in the URL) and
        open it in the default browser; in Jupyter, show an inline player. Returns the
        page's URL."""
        return player().play(self)

    def __getitem__(self, index: Any) -> SampleView:
        """Chained indexing as in Hub: ``t[i][a:b]`` is ``t[i, a:b]`` and ``t[i][5]`` is
        ``t[i, 5]``; ``t[i, a:b][k]`` picks among the selected frames, and ``t[i, 5][y]``
        indexes the pixels of frame 5, as numpy would."""
        more = index if isinstance(index, tuple) else (index,)
        if not self.rest:
            return self._view(more)
        if len(self.rest) > 1:
            raise FrameIndexError(
                f"cannot index {self!r} again: it already selects pixels",
                hint=f"index once, e.g. {self.tensor.name}[{self.index}, frames, rows, cols]",
            )
        frames, scalar = self._frames()
        if scalar:  # one frame: what follows indexes its rows (and columns)
            return self._view((*self.rest, *more))
        if not more:
            return self
        where = f"the frames selected of {self.where}"
        picked, one = normalize_positions(more[0], len(frames), "frame", where)
        chosen: Any = int(frames[picked[0]]) if one else frames[picked].tolist()
        return self._view((chosen, *more[1:]))

    def _view(self, rest: tuple[Any, ...]) -> SampleView:
        """The same sample, ``rest`` selected (sharing the lookup already made)."""
        return SampleView(self.tensor, self.index, rest, self._resolved)

    def __repr__(self) -> str:
        return f"SampleView({self.where}, shape={self.shape})"


class SamplesView:
    """Several samples (``tensor[a:b]``), each with the same frame selection.
    ``indices`` is a range for slices: nothing is built per sample until it is used."""

    def __init__(self, tensor: Tensor, indices: Sequence[int], rest: tuple[Any, ...]) -> None:
        self.tensor = tensor
        self.indices = indices
        self.rest = rest

    @property
    def samples(self) -> list[SampleView]:
        return list(self)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[SampleView]:
        return (SampleView(self.tensor, i, self.rest) for i in self.indices)

    @property
    def shape(self) -> tuple[int | None, ...]:
        """``(samples, ...)``; a dimension that differs between samples is None."""
        shapes = [s.shape for s in self]
        if not shapes:
            return (0,)
        if len({len(s) for s in shapes}) != 1:
            return (len(shapes), None)
        dims = tuple(d if all(s[k] == d for s in shapes) else None for k, d in enumerate(shapes[0]))
        return (len(shapes), *dims)

    @property
    def sample_info(self) -> list[dict[str, Any]]:
        return [s.sample_info for s in self]

    @property
    def timestamp(self) -> list[np.ndarray | float]:
        return [s.timestamp for s in self]

    def numpy(
        self,
        aslist: bool = False,
        *,
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
        crop: Sequence[int] | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Each sample's frames: a list with ``aslist=True``, else one stacked array
        (samples of different shapes cannot stack: pass ``aslist=True``, or scale them
        all to one ``size=(height, width)``). ``interpolation`` and ``crop``: as in
        :meth:`SampleView.numpy`, for every sample."""
        import numpy as np

        if size is not None or crop is not None or interpolation != "bilinear":
            size = None if size is None else check_size(size)
            arrays = [s.numpy(size=size, interpolation=interpolation, crop=crop) for s in self]
            if aslist or not arrays:
                return arrays if aslist else np.zeros((0,), dtype=np.uint8)
            return np.stack(arrays)
        if not aslist:
            shapes = [s.shape for s in self]
            if len(set(shapes)) > 1:
                listed = [
                    f"{v.where} is {v_shape}" for v, v_shape in zip(self, shapes, strict=True)
                ]
                more = ", ..." if len(listed) > 3 else ""
                raise RaggedError(
                    f"{len(shapes)} samples of {self.tensor.name!r} have different shapes "
                    f"({', '.join(listed[:3])}{more})",
                    hint="pass aslist=True to get a list of arrays",
                )
        arrays = [s.numpy() for s in self]
        if aslist:
            return arrays
        if not arrays:
            return np.zeros((0,), dtype=np.uint8)
        return np.stack(arrays)

    def data(self, aslist: bool = False) -> dict[str, Any]:
        return {"frames": self.numpy(aslist=aslist), "timestamps": self.timestamp}

    def __repr__(self) -> str:
        return f"SamplesView({self.tensor.name}{list(self.indices[:5])}, shape={self.shape})"


#: The largest side a frame may be scaled to (swscale's own limit is 16384).
MAX_SCALED_SIDE = 16384


def check_size(size: object) -> tuple[int, int]:
    """``size=``: ``(height, width)``, two ints from 1 to 16384."""
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in size)
        or not all(1 <= d <= MAX_SCALED_SIDE for d in size)
    ):
        raise FrameIndexError(
            f"size must be (height, width), two ints from 1 to {MAX_SCALED_SIDE}, not {size!r}",
            hint="e.g. size=(224, 224)",
        )
    return int(size[0]), int(size[1])


def check_interpolation(interpolation: object) -> str:
    """``interpolation=``: one of swscale's algorithms, by name."""
    from hubcli.video.decode import INTERPOLATIONS  # PyAV loads with the first decode

    if not isinstance(interpolation, str) or interpolation not in INTERPOLATIONS:
        raise FrameIndexError(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}",
            hint='e.g. interpolation="bicubic"',
        )
    return interpolation


def check_crop(crop: object, frame: tuple[int, int], where: str) -> Box:
    """``crop=``: ``(top, left, height, width)``, four ints, a box of at least one pixel
    inside ``frame`` (``(height, width)`` of ``where``'s frames)."""
    import numpy as np

    height, width = frame
    if (
        not isinstance(crop, (tuple, list))
        or len(crop) != 4
        or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in crop)
    ):
        raise FrameIndexError(
            f"crop must be (top, left, height, width), four ints, not {crop!r}",
            hint="e.g. crop=(0, 0, 224, 224), in the source frame's pixels",
        )
    top, left, h, w = (int(d) for d in crop)
    if top < 0 or left < 0 or h < 1 or w < 1 or top + h > height or left + w > width:
        raise FrameIndexError(
            f"crop {(top, left, h, w)} (top, left, height, width) does not lie inside the "
            f"{width}x{height} frames of {where}",
            hint=f"pass a box with top + height <= {height} and left + width <= {width}",
        )
    return top, left, h, w
