"""Clip planning for training loaders, framework-neutral (numpy only): which frames make
each clip, decided from the stored frame tables without decoding anything.

A *clip slot* is one item of a loader's epoch: ``ClipPlan`` numbers them ``0..len-1``
and says, for a slot and an epoch, which sample and which frames it holds. Slots are
fixed by the videos' lengths alone; only *where* a random clip starts depends on
``(seed, epoch, slot)``, so every worker, in any process, plans the same clip for the
same slot.

Positions are counted on a *timeline*: the frames themselves (``fps=None``), or a grid
of times ``first + m / fps`` mapped to the frame shown at each time (the nearest frame
at or before it, from the stored presentation timestamps: exact on variable frame rate
and edit-list files, where counting frames at the nominal rate is wrong).

:func:`read_clips` reads a batch of planned clips: one call per sample for the sorted,
deduplicated union of its clips' frames, so each keyframe run is decoded once for all
clips of that sample, then scattered back to the clips.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np

from hubcli.errors import FrameIndexError, TensorNotFoundError, UnsupportedHtypeError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hubcli.core.dataset import Dataset
    from hubcli.core.tensor import Tensor

Sampler = Literal["random", "uniform", "all"]
Policy = Literal["repeat_last", "wrap", "drop", "error"]
#: A target time within this many seconds after a frame's timestamp counts as that
#: frame's: ``first + m / fps`` in float64 may land a hair before the frame it names.
TIME_TOLERANCE = 1e-6


class VideoTensor(Protocol):
    """What the planner and reader need of a video tensor (``hubcli.Tensor`` is one)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> Any: ...


@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut. ``clip_len`` frames, ``frame_step`` positions apart; ``sampler``
    "random" (``clips_per_video`` random starts per video, new each epoch), "uniform"
    (``clips_per_video`` starts evenly spread) or "all" (every ``clip_stride`` positions,
    default ``clip_len * frame_step``: clips side by side); ``policy`` for a clip that
    runs past the end of its video; ``fps`` resamples the timeline to that rate."""

    clip_len: int = 16
    frame_step: int = 1
    clips_per_video: int = 1
    clip_stride: int | None = None
    sampler: Sampler = "random"
    policy: Policy = "repeat_last"
    fps: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("clip_len", "frame_step", "clips_per_video"):
            _check_positive(name, getattr(self, name))
        if self.clip_stride is not None:
            _check_positive("clip_stride", self.clip_stride)
        if self.sampler not in get_args(Sampler):
            raise ValueError(f"sampler must be one of {get_args(Sampler)}, not {self.sampler!r}")
        if self.policy not in get_args(Policy):
            raise ValueError(f"policy must be one of {get_args(Policy)}, not {self.policy!r}")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise ValueError(f"fps must be a positive number or None, not {self.fps!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, not {self.seed!r}")

    @property
    def span(self) -> int:
        """Timeline positions one clip covers, first to last."""
        return (self.clip_len - 1) * self.frame_step + 1

    @property
    def stride(self) -> int:
        return self.clip_stride if self.clip_stride is not None else self.clip_len * self.frame_step


@dataclass(frozen=True)
class Clip:
    """One planned clip: the slot it fills, its sample and its frame numbers."""

    slot: int
    sample: int
    frames: np.ndarray  # int64, presentation order of the sample, len == clip_len


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {value!r}")


def timeline(timestamps: np.ndarray, fps: float | None) -> np.ndarray:
    """Frame number at each timeline position: every frame (``fps=None``), or the frame
    shown at each time ``first + m / fps`` from the first frame's timestamp up to the
    last one's (the last frame whose timestamp is at or before that time)."""
    ts = np.asarray(timestamps, dtype=np.float64)
    if fps is None or len(ts) == 0:
        return np.arange(len(ts), dtype=np.int64)
    # Presentation timestamps of a valid video increase; sort defensively all the same,
    # so a damaged table gives wrong-but-bounded answers, never an out-of-range index.
    order = np.argsort(ts, kind="stable")
    first, last = ts[order[0]], ts[order[-1]]
    count = int(np.floor((last - first) * fps + TIME_TOLERANCE * fps)) + 1
    times = first + np.arange(count, dtype=np.float64) / fps
    found = np.searchsorted(ts[order], times + TIME_TOLERANCE, side="right") - 1
    frames: np.ndarray = order[np.clip(found, 0, len(ts) - 1)].astype(np.int64)
    return frames


class ClipPlan:
    """The clip slots of a set of videos. Video ``v`` has ``lengths[v]`` timeline
    positions; ``timelines[v]`` maps them to frame numbers (None: position = frame, so
    a plan without ``fps`` holds one int per video, cheap to pickle into workers);
    ``samples[v]`` is its sample number in the dataset (default ``v``)."""

    def __init__(
        self,
        spec: ClipSpec,
        lengths: Sequence[int],
        timelines: Sequence[np.ndarray] | None = None,
        samples: Sequence[int] | None = None,
    ) -> None:
        self.spec = spec
        self.lengths = [int(n) for n in lengths]
        self.timelines = None if timelines is None else [np.asarray(t, np.int64) for t in timelines]
        self.samples = list(range(len(lengths))) if samples is None else [int(s) for s in samples]
        counts = np.array([self._slots_of(v) for v in range(len(self.lengths))], dtype=np.int64)
        self._video = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self._first = (np.cumsum(counts) - counts).astype(np.int64)

    def __len__(self) -> int:
        return len(self._video)

    def _slots_of(self, video: int) -> int:
        spec, length = self.spec, self.lengths[video]
        if spec.sampler == "all":
            # Every stride start whose clip fits, then the first that runs past the end
            # (so the tail is covered), unless the policy drops it.
            starts = np.arange(0, length, spec.stride)
            fit = int(np.count_nonzero(starts + spec.span <= length))
            if fit == len(starts) or spec.policy == "drop":
                return fit
            self._check_fits(video, int(starts[fit]))
            return fit + 1
        if length >= spec.span:
            return spec.clips_per_video
        if spec.policy == "drop" or (length == 0 and spec.policy != "error"):
            return 0  # an empty video has no frame to repeat or wrap
        self._check_fits(video, 0)
        return spec.clips_per_video

    def _check_fits(self, video: int, start: int) -> None:
        length = self.lengths[video]
        if self.spec.policy == "error" or length == 0:
            raise FrameIndexError(
                f"sample {self.samples[video]} has {length} positions; a clip starting at "
                f"{start} needs {self.spec.span} (clip_len={self.spec.clip_len}, "
                f"frame_step={self.spec.frame_step})",
                hint="pass policy='repeat_last', 'wrap' or 'drop', or a shorter clip",
            )

    def clip(self, slot: int, epoch: int = 0) -> Clip:
        """The clip in ``slot`` at ``epoch``: the same for the same (seed, epoch, slot)."""
        if not 0 <= slot < len(self):
            raise FrameIndexError(f"clip slot {slot} is out of range: there are {len(self)}")
        video = int(self._video[slot])
        start = self._start(video, slot - int(self._first[video]), slot, epoch)
        positions = start + np.arange(self.spec.clip_len, dtype=np.int64) * self.spec.frame_step
        positions = apply_policy(positions, self.lengths[video], self.spec.policy)
        frames = positions if self.timelines is None else self.timelines[video][positions]
        return Clip(slot, self.samples[video], frames)

    def clips(self, slots: Sequence[int], epoch: int = 0) -> list[Clip]:
        return [self.clip(int(s), epoch) for s in slots]

    def _start(self, video: int, k: int, slot: int, epoch: int) -> int:
        spec, length = self.spec, self.lengths[video]
        last = max(length - spec.span, 0)  # the last start whose clip fits (0 if none does)
        if spec.sampler == "all":
            return k * spec.stride
        if spec.sampler == "uniform":
            starts = np.linspace(0, last, spec.clips_per_video)
            return int(starts[k])
        rng = np.random.default_rng([spec.seed, epoch, slot])
        return int(rng.integers(0, last + 1))


def _full_starts(length: int, span: int, stride: int) -> np.ndarray:
    return np.arange(0, max(length - span + 1, 0), stride, dtype=np.int64)


def apply_policy(positions: np.ndarray, length: int, policy: Policy) -> np.ndarray:
    """Positions past ``length`` replaced as TorchCodec's samplers do: "repeat_last"
    repeats the clip's last position inside the video, "wrap" starts the clip's valid
    positions over. ("drop" and "error" clips are never planned: see ClipPlan.)"""
    valid = positions[positions < length]
    if len(valid) == len(positions):
        return positions
    if len(valid) == 0 or policy in ("drop", "error"):
        raise FrameIndexError(f"a clip at {int(positions[0])} lies past the end ({length})")
    if policy == "wrap":
        return np.resize(valid, len(positions))
    return np.concatenate([valid, np.full(len(positions) - len(valid), valid[-1])])


def plan_for(tensor: VideoTensor, spec: ClipSpec) -> ClipPlan:
    """The plan of every sample of a hubcli video tensor: frame counts from the index
    (``shape``), and with ``fps`` the stored timestamps; nothing is decoded."""
    count = len(tensor)
    if spec.fps is None:
        return ClipPlan(spec, [int(tensor[i].shape[0]) for i in range(count)])
    lines = [timeline(np.atleast_1d(tensor[i].timestamp), spec.fps) for i in range(count)]
    return ClipPlan(spec, [len(t) for t in lines], lines)


#: ``crop=`` of the loaders: the largest centred box of the target aspect, one at a
#: random place (per clip), a fixed box ``(top, left, height, width)``, or none.
Crop = Literal["center", "random"] | tuple[int, int, int, int] | None
#: Random crops draw from their own stream of (seed, epoch, slot), not the clip start's.
_CROP_STREAM = 1


@dataclass(frozen=True)
class FrameTransform:
    """What every frame of a clip becomes in the one swscale pass that converts it to
    RGB: cropped to a box of the source frame (``crop``), then scaled to ``size``
    (``(height, width)``) with ``interpolation``.

    ``crop="center"`` is the largest box of the aspect of ``size`` centred in the frame
    (resizing the short side, then a centre crop, in one pass); ``"random"`` is a box
    of the same size at a random place, drawn per clip from ``(seed, epoch, slot)`` (a
    short-side resize, then a random crop); a tuple is that box, in source pixels."""

    size: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    crop: Crop = None

    def __post_init__(self) -> None:
        from hubcli.core.sample import check_interpolation, check_size

        if self.size is not None:
            object.__setattr__(self, "size", check_size(self.size))
        check_interpolation(self.interpolation)
        if isinstance(self.crop, str):
            if self.crop not in ("center", "random"):
                raise FrameIndexError(
                    f"crop must be 'center', 'random', a box (top, left, height, width) or "
                    f"None, not {self.crop!r}",
                    hint='e.g. crop="center", size=(224, 224)',
                )
            if self.size is None:
                raise FrameIndexError(
                    f"crop={self.crop!r} cuts a box of the aspect of size=, and no size= was given",
                    hint=f'pass size=(height, width) with crop="{self.crop}"',
                )
        elif self.crop is not None:
            from hubcli.core.sample import check_crop

            # Only the shape of the box here; whether it fits is checked per video.
            box = check_crop(self.crop, (1 << 30, 1 << 30), "any video")
            object.__setattr__(self, "crop", box)

    def box(
        self, frame: tuple[int, int], seed: int = 0, epoch: int = 0, slot: int = 0
    ) -> tuple[int, int, int, int] | None:
        """The crop box for frames of ``frame`` (``(height, width)``) in clip ``slot``."""
        if self.crop is None or isinstance(self.crop, tuple):
            return self.crop
        assert self.size is not None  # checked in __post_init__
        height, width = frame
        h, w = _largest_box(frame, self.size)
        if self.crop == "center":
            return (height - h) // 2, (width - w) // 2, h, w
        rng = np.random.default_rng([seed, epoch, slot, _CROP_STREAM])
        return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w

    def output(self, frame: tuple[int, int]) -> tuple[int, int]:
        """``(height, width)`` of what frames of ``frame`` become (a random box has the
        same size wherever it falls)."""
        if self.size is not None:
            return self.size
        if isinstance(self.crop, tuple):
            return self.crop[2], self.crop[3]
        return frame


def _largest_box(frame: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` of the largest box of the aspect of ``size`` inside ``frame``."""
    height, width = frame
    th, tw = size
    if width * th >= height * tw:  # the frame is wider than the target: full height
        return height, max(1, min(width, round(height * tw / th)))
    return max(1, min(height, round(width * th / tw))), width


@dataclass(frozen=True)
class ClipFrames:
    """A clip as read: ``frames`` ``(clip_len, H, W, 3)`` uint8 RGB and the presentation
    ``timestamps`` (seconds) of those frames."""

    clip: Clip
    frames: np.ndarray
    timestamps: np.ndarray


def clip_shapes(
    tensor: VideoTensor, clips: Sequence[Clip], transform: FrameTransform | None = None
) -> list[tuple[int, int, int]]:
    """``(frames, height, width)`` of each clip as :func:`read_clips` reads it with
    ``transform``: from the stored shapes, nothing decoded."""
    transform = transform or FrameTransform()
    frames: dict[int, tuple[int, int]] = {}
    for clip in clips:
        if clip.sample not in frames:
            _, height, width, _ = tensor[clip.sample].shape
            frames[clip.sample] = (height, width)
    return [(len(c.frames), *transform.output(frames[c.sample])) for c in clips]


def read_clips(
    tensor: VideoTensor,
    clips: Sequence[Clip],
    size: tuple[int, int] | None = None,
    *,
    transform: FrameTransform | None = None,
    seed: int = 0,
    epoch: int = 0,
    out: Sequence[np.ndarray] | None = None,
) -> list[ClipFrames]:
    """Read ``clips`` (in order), one decode per sample: each sample's needed frames,
    sorted and deduplicated, decoded in a single pass, so a keyframe run shared by
    several clips is decoded once; each picture is then converted once per distinct
    crop box among the clips that hold it, straight into their arrays. ``size``:
    ``(height, width)``, or ``transform`` (size, interpolation, crop; random crops per
    ``(seed, epoch, clip.slot)``): applied while converting to RGB.

    ``out``: where each clip's frames go, an ``(frames, height, width, 3)`` uint8 array
    of :func:`clip_shapes`'s shape, of any strides (a view of a channel-first batch
    tensor: a loader's batch is then written once, in its final layout)."""
    if transform is None:
        transform = FrameTransform(size)
    elif size is not None:
        raise ValueError("pass size= or transform=, not both")
    if out is not None:
        _check_out(out, clip_shapes(tensor, clips, transform))
    members: defaultdict[int, list[int]] = defaultdict(list)
    for n, clip in enumerate(clips):
        members[clip.sample].append(n)
    done: list[ClipFrames | None] = [None] * len(clips)
    for sample, group in members.items():
        arrays = None if out is None else [out[n] for n in group]
        reads = _read_sample(
            tensor, sample, [clips[n] for n in group], transform, seed, epoch, arrays
        )
        for n, read in zip(group, reads, strict=True):
            done[n] = read
    return [c for c in done if c is not None]


def _check_out(out: Sequence[np.ndarray], shapes: list[tuple[int, int, int]]) -> None:
    if len(out) != len(shapes):
        raise ValueError(f"out holds {len(out)} arrays for {len(shapes)} clips")
    for n, (array, shape) in enumerate(zip(out, shapes, strict=True)):
        if array.shape != (*shape, 3) or array.dtype != np.uint8:
            raise ValueError(
                f"out[{n}] is {array.dtype} {array.shape}; clip {n} needs uint8 {(*shape, 3)}"
            )


def _read_sample(
    tensor: VideoTensor,
    sample: int,
    clips: list[Clip],
    transform: FrameTransform,
    seed: int,
    epoch: int,
    arrays: list[np.ndarray] | None = None,
) -> list[ClipFrames]:
    wanted = np.unique(np.concatenate([clip.frames for clip in clips]))
    view = tensor[sample, wanted.tolist()]
    seconds = np.atleast_1d(view.timestamp)
    frame = tuple(view.shape[-3:-1])
    boxes = [transform.box(frame, seed, epoch, clip.slot) for clip in clips]
    converters = {
        box: view.converter(transform.size, transform.interpolation, box) for box in set(boxes)
    }
    if arrays is None:
        shape = transform.output((int(frame[0]), int(frame[1])))
        arrays = [np.empty((len(c.frames), *shape, 3), np.uint8) for c in clips]
    # For each wanted frame, the (clip, position) pairs it fills, by conversion.
    targets: defaultdict[int, defaultdict[Any, list[tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for n, clip in enumerate(clips):
        for t, j in enumerate(np.searchsorted(wanted, clip.frames).tolist()):
            targets[j][boxes[n]].append((n, t))
    for positions, picture in view.pictures(wanted):
        for box, where in targets[positions[0]].items():
            (n, t), rest = where[0], where[1:]
            first = picture.rgb(arrays[n][t], convert=converters[box])
            for m, u in rest:
                arrays[m][u] = first
    return [
        ClipFrames(clip, arrays[n], seconds[np.searchsorted(wanted, clip.frames)])
        for n, clip in enumerate(clips)
    ]


# --- the tensors a loader reads: one set of rules for the torch and Ray loaders ---------


def named_tensor(ds: Dataset, name: str, argument: str) -> Tensor:
    """Tensor ``name`` of ``ds``; a missing one names the ``argument`` that asked."""
    if name not in ds.tensors:
        raise TensorNotFoundError(
            f"{ds.path} has no tensor {name!r} (tensors: {', '.join(ds.tensors) or 'none'})",
            hint=f"pass {argument}= names of its tensors"
            + (" (columns=() for none)" if argument == "columns" else ""),
        )
    tensor: Tensor = ds[name]
    return tensor


def video_tensor(ds: Dataset, name: str) -> Tensor:
    """Tensor ``name`` of ``ds``, which must hold videos (``tensor=``)."""
    tensor = named_tensor(ds, name, "tensor")
    if tensor.holds_values:
        raise UnsupportedHtypeError(
            f"tensor {name!r} of {ds.path} holds {tensor.htype} values, not videos",
            hint="pass tensor= the name of a video tensor",
        )
    return tensor


def label_columns(
    ds: Dataset, videos: Tensor, columns: str | Sequence[str], reserved: Sequence[str], what: str
) -> tuple[str, ...]:
    """The label columns joined to each of ``what`` ("items", "rows"): label tensors
    with a value for every video, not named like one of its own ``reserved`` fields."""
    names = (columns,) if isinstance(columns, str) else tuple(columns)
    for name in names:
        column = named_tensor(ds, name, "columns")
        if name in reserved or not column.holds_values:
            raise UnsupportedHtypeError(
                f"column {name!r} cannot be a label column of the {what}",
                hint=f"columns are label tensors (class_label, text, json, generic), "
                f"not named {', '.join(reserved)}",
            )
        if len(column) < len(videos):
            raise TensorNotFoundError(
                f"column {name!r} has {len(column)} samples, fewer than the "
                f"{len(videos)} of {videos.name!r}: some {what} would have no label",
                hint="append the missing labels, or leave the column out of columns=",
            )
    return names


def label_values(
    ds: Dataset, columns: Sequence[str], samples: Sequence[int]
) -> dict[str, dict[int, Any]]:
    """Each column's value for each of ``samples``: one read per column."""
    wanted = sorted(set(samples))
    out: dict[str, dict[int, Any]] = {}
    for name in columns:
        values = ds[name][wanted].numpy(aslist=True) if wanted else []
        out[name] = dict(zip(wanted, values, strict=True))
    return out
