"""What a label tensor's info may say (format_spec/values.md §3): its htypes, dtypes,
class names and fixed shape, parsed and checked without the codecs, so that reading a
manifest (every command's start-up) does not load numpy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubcli.errors import CorruptDatasetError
from hubcli.format.limits import MAX_INT

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Dimensions a sample may have.
MAX_NDIM = 16
#: Element dtypes a value tensor may hold (stored little-endian).
DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
)

CLASS_LABEL = "class_label"
TEXT = "text"
JSON = "json"
GENERIC = "generic"
#: htypes whose samples are values held in value segments (format 1.3).
VALUE_HTYPES = (CLASS_LABEL, TEXT, JSON, GENERIC)
#: The most class names a tensor may have (each a str of at most 1,024 characters).
MAX_CLASS_NAMES = 1 << 20
MAX_CLASS_NAME_LENGTH = 1024


@dataclass(frozen=True)
class ValueInfo:
    """What a value tensor's samples are: its state's ``info`` (format_spec/values.md §2).

    ``dtype`` is the stored element type (fixed for every htype but ``generic``, whose
    dtype is None until its first append sets it); ``shape`` a ``generic`` tensor's
    fixed sample shape; ``class_names`` the names a ``class_label`` int stands for.
    """

    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    class_names: tuple[str, ...] = ()
    fixed_class_names: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
            "class_names": list(self.class_names),
            "fixed_class_names": self.fixed_class_names,
        }


def default_info(htype: str) -> ValueInfo:
    """The info of a new tensor of ``htype`` before its options are applied."""
    return ValueInfo(dtype={CLASS_LABEL: "int64", TEXT: "uint8", JSON: "uint8"}.get(htype))


def parse_info(value: object, htype: str | None, where: str) -> ValueInfo:
    """An ``info`` object, checked against ``htype`` (None: its form only; a record's
    ``info`` op is checked against its tensor's htype when it is applied)."""
    if not isinstance(value, dict):
        raise CorruptDatasetError(f"{where}: info must be an object")
    dtype = value.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise CorruptDatasetError(f"{where}: unknown dtype {dtype!r}")
    names = value.get("class_names", [])
    if not isinstance(names, list) or len(names) > MAX_CLASS_NAMES:
        raise CorruptDatasetError(f"{where}: class_names must be an array of strings")
    if not all(isinstance(n, str) and 0 < len(n) <= MAX_CLASS_NAME_LENGTH for n in names):
        raise CorruptDatasetError(f"{where}: class_names must be non-empty strings")
    if len(set(names)) != len(names):
        raise CorruptDatasetError(f"{where}: class_names must be distinct")
    flag = value.get("fixed_class_names", False)
    if not isinstance(flag, bool):
        raise CorruptDatasetError(f"{where}: fixed_class_names must be true or false")
    info = ValueInfo(
        None if dtype is None else str(dtype),
        parse_shape(value.get("shape"), where),
        tuple(names),
        flag,
    )
    if htype is not None:
        check_info(info, htype, where)
    return info


def check_info(info: ValueInfo, htype: str, where: str) -> None:
    """What ``info`` may hold for a tensor of ``htype``."""
    fixed = default_info(htype).dtype
    if fixed is not None and info.dtype != fixed:
        raise CorruptDatasetError(
            f"{where}: dtype {info.dtype!r} is not allowed for htype {htype!r}"
        )
    if info.shape is not None and htype != GENERIC:
        raise CorruptDatasetError(f"{where}: only generic tensors have a fixed shape")
    if (info.class_names or info.fixed_class_names) and htype != CLASS_LABEL:
        raise CorruptDatasetError(f"{where}: only class_label tensors have class names")


def check_info_change(old: ValueInfo, new: ValueInfo, where: str) -> None:
    """An ``info`` op never changes what a written sample means (values.md §2)."""
    if (
        (old.dtype is not None and new.dtype != old.dtype)
        or new.shape != old.shape
        or new.fixed_class_names != old.fixed_class_names
        or new.class_names[: len(old.class_names)] != old.class_names
    ):
        raise CorruptDatasetError(f"{where}: info may only add class names or set a first dtype")


def parse_shape(value: object, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_NDIM:
        raise CorruptDatasetError(f"{where}: shape must be nil or at most {MAX_NDIM} sizes")
    if not all(type(d) is int and 0 <= d <= MAX_INT for d in value):
        raise CorruptDatasetError(f"{where}: shape sizes must be integers >= 0")
    return tuple(value)


def class_name(names: Sequence[str], k: int) -> str:
    """Class ``k``'s name (its number when the tensor has no name for it)."""
    return names[k] if 0 <= k < len(names) else str(k)
