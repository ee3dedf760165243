"""Medical volumes: NIfTI (nibabel), NRRD (pynrrd headers) and MetaImage (SimpleITK).

Each file becomes a :class:`Scene` holding one :class:`Volume` named after the file's stem.

**World frame.** Every volume (and every DICOM series, see :mod:`vizserver.io.dicom`) is placed
in DICOM's patient frame, LPS (x to the patient's left, y posterior, z superior), in millimetres.
ITK and MetaImage already use it; NIfTI's RAS affines and NRRD files in a RAS or LAS ``space``
are flipped into it, and NIfTI spatial units (metres, microns) are scaled to millimetres, so a
segmentation and the scan it came from line up whatever their formats.

**Labels or intensity.** A volume is ``"labels"`` when its values look like segment ids (every
value an integer in 0..65535, at most :data:`MAX_LABELS` distinct) *and* one of these holds:
the NIfTI intent code is ``NIFTI_INTENT_LABEL``; the file name contains one of
:data:`LABEL_HINTS` (``seg``, ``label``, ``mask``, ...); or the voxel type is an integer type and
there are at most :data:`MAX_UNHINTED_LABELS` distinct values (an 8-bit image uses more grey
levels than that). Float label maps (a hint or intent is needed) become ``uint8``/``uint16``.
Anything else is ``"intensity"``.

**More than three dimensions.** A 4D (or vector) image is a series of 3D frames; only the first
frame (the first component) is read, and the log says how many there were.

**Safety.** Headers are parsed and checked before any voxel is allocated: the voxel count
against ``limits().max_points`` (:class:`LimitExceededError`), the data length against the file
size (truncated: :class:`UnreadableFileError`), and detached data files (``.nhdr``'s
``data file``, ``.mhd``'s ``ElementDataFile``) must lie inside the header's folder. Compressed
NRRD data is inflated only up to the size the header implies. SimpleITK only ever sees a
MetaImage header this module has validated.

**Privacy.** Only voxel values and geometry reach the model. Free-text header fields (NIfTI
``descrip``, ``aux_file``, ``db_name``, ``intent_name``, extensions; NRRD ``content``, labels and
key/value pairs; MetaImage keys that are not geometry) are dropped, and their *names* listed in
``removed_identifiers`` (see :mod:`vizserver.io.deidentify`).
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import logging
import math
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import (
    InvalidGeometryError,
    LimitExceededError,
    MissingDependencyError,
    UnreadableFileError,
)
from vizserver.io.deidentify import free_text_fields, strip_nifti
from vizserver.io.registry import ReaderSpec, register
from vizserver.model import Scene, SceneObject, Volume, VolumeKind

logger = logging.getLogger(__name__)

LABEL_HINTS: tuple[str, ...] = ("seg", "label", "mask", "atlas", "parcel", "roi")
"""Name fragments that mark a label map (matched case-insensitively in the file's stem)."""

MAX_LABELS = 256
"""Most distinct values a label map may have."""

MAX_UNHINTED_LABELS = 64
"""Most distinct values of an integer volume taken for labels without a name hint or intent."""

MAX_HEADER_BYTES = 1 << 20
"""NRRD and MetaImage text headers longer than this are refused."""

DEFLATE_MAX_RATIO = 1032
"""Deflate (gzip, zlib) cannot inflate one compressed byte to more than this many bytes."""

NIFTI_INTENT_LABEL = 1002

_LPS_FROM_SPACE: dict[str, tuple[float, float]] = {
    "right-anterior-superior": (-1.0, -1.0), "ras": (-1.0, -1.0),
    "left-anterior-superior": (1.0, -1.0), "las": (1.0, -1.0),
    "left-posterior-superior": (1.0, 1.0), "lps": (1.0, 1.0),
}
"""Sign flips of x and y that take an NRRD ``space`` to LPS (others, e.g. scanner-xyz, are kept)."""

_NIFTI_UNIT_MM = {"meter": 1000.0, "mm": 1.0, "micron": 1e-3, "unknown": 1.0}

_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


# --- shared -------------------------------------------------------------------------------------


def classify(
    values: npt.NDArray[np.generic], name: str, *, intent_label: bool = False
) -> tuple[VolumeKind, npt.NDArray[np.generic]]:
    """The volume's kind by the rule in the module docstring, and its values (float labels cast)."""
    if values.size == 0:
        return "intensity", values
    hinted = intent_label or any(h in name.lower() for h in LABEL_HINTS)
    is_int = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
    if not (is_int or (hinted and np.issubdtype(values.dtype, np.floating))):
        return "intensity", values
    lo, hi = values.min(), values.max()
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 65535:
        return "intensity", values
    if not is_int and not np.array_equal(values, np.round(values)):
        return "intensity", values
    distinct = _count_distinct(values, int(hi))
    if distinct > MAX_LABELS or (not hinted and distinct > MAX_UNHINTED_LABELS):
        return "intensity", values
    if not is_int:
        values = values.astype(np.uint8 if hi <= 255 else np.uint16)
    return "labels", values


def _count_distinct(values: npt.NDArray[np.generic], hi: int) -> int:
    """Distinct values in 0..hi, counted in chunks (no full-size int64 copy), stopping past MAX_LABELS."""
    flat = values.ravel(order="K")
    seen = np.zeros(hi + 1, dtype=bool)
    step = 1 << 22
    for start in range(0, flat.size, step):
        chunk = flat[start:start + step]
        seen[chunk.astype(np.intp) if chunk.dtype.kind in "fb" else chunk] = True
        if np.count_nonzero(seen) > MAX_LABELS:
            break
    return int(np.count_nonzero(seen))


def _geometry(
    axes: npt.NDArray[np.float64], origin: npt.NDArray[np.float64], name: str
) -> tuple[tuple[float, float, float], tuple[float, float, float], npt.NDArray[np.float64]]:
    """Spacing, origin and unit direction columns from axis vectors (columns, world units)."""
    spacing = np.linalg.norm(axes, axis=0)
    if not (np.all(np.isfinite(axes)) and np.all(np.isfinite(origin))) or np.any(spacing <= 0):
        raise InvalidGeometryError(f"{name}: voxel axes or origin are zero, NaN or infinite")
    direction = axes / spacing + 0.0  # no negative zeros from flips
    s, o = spacing.tolist(), (origin + 0.0).tolist()
    return (s[0], s[1], s[2]), (o[0], o[1], o[2]), direction


def _complete_axes(vectors: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """3x3 axis columns from one to three 3-vectors; missing axes are unit normals to the given ones."""
    axes = [np.asarray(v, dtype=np.float64) for v in vectors]
    while len(axes) < 3:
        if len(axes) == 2:
            normal = np.cross(axes[0], axes[1])
        else:
            normal = np.cross(axes[0], [0.0, 0.0, 1.0] if abs(axes[0][2]) < 0.9 else [1.0, 0.0, 0.0])
        length = np.linalg.norm(normal)
        axes.append(normal / length if length > 0 else np.eye(3)[len(axes)])
    return np.stack(axes, axis=1)


def _first_frame(values: npt.NDArray[np.generic], spatial: list[int], name: str) -> npt.NDArray[np.generic]:
    """``values`` with index 0 taken along every non-spatial axis, padded to three axes."""
    extra = [a for a in range(values.ndim) if a not in spatial]
    frames = int(np.prod([values.shape[a] for a in extra])) if extra else 1
    if frames > 1:
        logger.info("%s: %d frames or components; reading the first", name, frames)
    index = tuple(0 if a in extra else slice(None) for a in range(values.ndim))
    values = values[index]
    return values.reshape(values.shape + (1,) * (3 - values.ndim))


def _native(values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))


def _check_points(count: int, name: str) -> None:
    limit = limits().max_points
    if count > limit:
        raise LimitExceededError(f"{name}: header claims {count:,} voxels, over the limit of {limit:,}")


def _check_inflatable(claimed: int, compressed: int, name: str) -> None:
    """Refuse a deflated payload that could not hold the voxels its header claims (before allocating)."""
    if claimed > DEFLATE_MAX_RATIO * max(compressed, 0) + 1024:
        raise UnreadableFileError(
            f"{name}: truncated: header says {claimed:,} bytes of voxels, more than "
            f"{max(compressed, 0):,} compressed bytes can hold"
        )


def _stem(path: Path) -> str:
    lower = path.name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def _scene(path: Path, values: npt.NDArray[np.generic], geometry: tuple[Any, Any, Any],
           removed: tuple[str, ...], intent_label: bool = False) -> Scene:
    stem = _stem(path)
    if values.size == 0:
        raise UnreadableFileError(f"{path.name}: volume has no voxels")
    kind, values = classify(values, stem, intent_label=intent_label)
    spacing, origin, direction = geometry
    volume = Volume(values, spacing, origin, direction, kind=kind, removed_identifiers=removed)
    if removed:
        logger.info("%s: dropped header fields that can identify a patient: %s", path.name, ", ".join(removed))
    return Scene(stem, (SceneObject(stem, volume),), removed_identifiers=removed)


def _inside(folder: Path, name: str, header: Path) -> Path:
    """The detached data file ``name``, refused unless it is a file inside ``folder``."""
    candidate = (folder / name).resolve()
    if not candidate.is_relative_to(folder.resolve()):
        raise UnreadableFileError(f"{header.name}: data file lies outside the header's folder; refused")
    if not candidate.is_file():
        raise UnreadableFileError(f"{header.name}: data file {candidate.name!r} is missing")
    return candidate


def _text_header(path: Path, last_line: re.Pattern[bytes] | None) -> tuple[list[bytes], int]:
    """Header lines and their length in bytes: up to EOF and either a blank line (``last_line`` None)
    or, included, a line matching ``last_line`` (blank lines then skipped)."""
    lines: list[bytes] = []
    total = 0
    with path.open("rb") as f:
        while True:
            line = f.readline(MAX_HEADER_BYTES + 1 - total)
            total += len(line)
            if total > MAX_HEADER_BYTES:
                raise UnreadableFileError(f"{path.name}: header is longer than {MAX_HEADER_BYTES:,} bytes")
            if not line or (last_line is None and line in (b"\n", b"\r\n")):
                return lines, total
            if line.strip():
                lines.append(line)
            if last_line is not None and last_line.match(line):
                return lines, total


def _read_exact(stream: io.BufferedIOBase, count: int, name: str) -> bytearray:
    """Exactly ``count`` bytes (a writable buffer), or :class:`UnreadableFileError` if the data ends first."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    filled = 0
    while filled < count:
        got = stream.readinto(view[filled:])
        if not got:
            raise UnreadableFileError(f"{name}: voxel data is truncated ({filled:,} of {count:,} bytes)")
        filled += got
    return buffer


# --- NIfTI --------------------------------------------------------------------------------------


def _nifti_magic(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] == b"n+1\x00":
        return 348 in (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0])
    if len(head) >= 12 and head[4:12] == b"n+2\x00\r\n\x1a\n":
        return 540 in (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0])
    return False


def sniff_nifti(head: bytes) -> bool:
    """A single-file NIfTI-1/2 header, or a gzip stream whose first bytes inflate to one."""
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(31).decompress(head, 544)
        except zlib.error:
            return False
    return _nifti_magic(head)


def read_nifti(path: Path) -> Scene:
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError

    try:
        image: Any = nib.load(str(path), mmap=False)
        header = image.header
        shape = tuple(int(n) for n in header.get_data_shape())
        dtype = np.dtype(header.get_data_dtype())
    except (ImageFileError, HeaderDataError, ValueError, OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{path.name}: not a readable NIfTI header ({type(exc).__name__})") from None
    removed = strip_nifti(header)
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise UnreadableFileError(f"{path.name}: voxel type {dtype} is not supported (need integers or floats)")
    frame_shape = shape[:3]
    count = int(np.prod(frame_shape, dtype=np.float64)) if frame_shape else 1
    _check_points(count, path.name)
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        _check_inflatable(count * dtype.itemsize, size, path.name)
    else:
        needed = int(image.dataobj.offset) + count * dtype.itemsize
        if needed > size:
            raise UnreadableFileError(
                f"{path.name}: truncated: header says {'x'.join(map(str, shape))} {dtype} "
                f"({needed:,} bytes with the header) but the file has {size:,}"
            )
    index = (slice(None),) * min(len(shape), 3) + (0,) * max(len(shape) - 3, 0)
    if math.prod(shape[3:]) > 1:
        logger.info("%s: %d frames or components; reading the first", path.name, math.prod(shape[3:]))
    try:
        values = np.asarray(image.dataobj[index])
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{path.name}: voxel data is truncated or corrupt ({type(exc).__name__})") from None
    values = _native(values.reshape(values.shape + (1,) * (3 - values.ndim)))
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(image.affine, dtype=np.float64)
    unit = _NIFTI_UNIT_MM.get(str(header.get_xyzt_units()[0]), 1.0)
    geometry = _geometry(affine[:3, :3] * unit, affine[:3, 3] * unit, path.name)
    intent = int(header["intent_code"]) == NIFTI_INTENT_LABEL
    return _scene(path, values, geometry, removed, intent_label=intent)


# --- NRRD ---------------------------------------------------------------------------------------

_NRRD_FIELDS = frozenset({
    "type", "dimension", "space", "space dimension", "sizes", "space directions", "space origin",
    "spacings", "thicknesses", "axis mins", "axismins", "axis maxs", "axismaxs", "centerings", "centers",
    "kinds", "units", "space units", "endian", "encoding", "data file", "datafile", "line skip",
    "lineskip", "byte skip", "byteskip", "min", "max", "old min", "oldmin", "old max", "oldmax",
    "measurement frame", "sample units", "sampleunits", "block size", "blocksize",
})
"""NRRD format and geometry fields; every other field (``content``, ``labels``, key/values) is dropped."""

_NRRD_TYPES: dict[str, str] = {
    name: code
    for names, code in (
        ("signed char|int8|int8_t", "i1"),
        ("uchar|unsigned char|uint8|uint8_t", "u1"),
        ("short|short int|signed short|signed short int|int16|int16_t", "i2"),
        ("ushort|unsigned short|unsigned short int|uint16|uint16_t", "u2"),
        ("int|signed int|int32|int32_t", "i4"),
        ("uint|unsigned int|uint32|uint32_t", "u4"),
        ("longlong|long long|long long int|signed long long|signed long long int|int64|int64_t", "i8"),
        ("ulonglong|unsigned long long|unsigned long long int|uint64|uint64_t", "u8"),
        ("float", "f4"),
        ("double", "f8"),
    )
    for name in names.split("|")
}
"""NRRD type names (all the spellings the format allows) to numpy type codes."""


def sniff_nrrd(head: bytes) -> bool:
    return head.startswith(b"NRRD000")


def read_nrrd(path: Path) -> Scene:
    import nrrd

    lines, header_size = _text_header(path, None)
    try:
        header = nrrd.read_header(lines)
        dtype = np.dtype(_NRRD_TYPES[str(header["type"]).strip().lower()])
        sizes = [int(n) for n in header["sizes"]]
    except KeyError as exc:
        raise UnreadableFileError(f"{path.name}: NRRD header lacks or misstates field {exc}") from None
    except (nrrd.NRRDError, ValueError, TypeError, IndexError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise UnreadableFileError(f"{path.name}: malformed NRRD header ({detail})") from None
    removed = free_text_fields(header.keys(), _NRRD_FIELDS)
    if not sizes or min(sizes) <= 0:
        raise UnreadableFileError(f"{path.name}: NRRD sizes must be positive")
    count = int(np.prod(sizes, dtype=np.float64))
    _check_points(count, path.name)
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if str(header.get("endian", "little")) == "big" else "<")
    data = _nrrd_data(path, header, header_size, count * dtype.itemsize)
    values = np.frombuffer(data, dtype=dtype, count=count).reshape(sizes, order="F")
    spatial = _nrrd_spatial_axes(header, len(sizes))
    values = _native(_first_frame(values, spatial, path.name))
    return _scene(path, values, _nrrd_geometry(header, spatial, path.name), removed)


def _nrrd_spatial_axes(header: dict[str, Any], dimension: int) -> list[int]:
    directions = header.get("space directions")
    if directions is not None:
        rows = np.asarray(directions, dtype=np.float64)
        axes = [a for a in range(dimension) if np.all(np.isfinite(rows[a]))]
    elif "kinds" in header:
        axes = [a for a, kind in enumerate(header["kinds"]) if str(kind).lower() in ("domain", "space")]
    else:
        axes = list(range(dimension))
    if not axes:
        axes = list(range(dimension))
    return axes[:3]


def _nrrd_geometry(header: dict[str, Any], spatial: list[int], name: str) -> tuple[Any, Any, Any]:
    directions = header.get("space directions")
    if directions is not None:
        rows = np.asarray(directions, dtype=np.float64)
        vectors = [np.pad(rows[a], (0, 3 - rows.shape[1]))[:3] for a in spatial]
    else:
        spacings = np.asarray(header.get("spacings", np.ones(max(spatial) + 1)), dtype=np.float64)
        vectors = [np.eye(3)[i] * (spacings[a] if np.isfinite(spacings[a]) else 1.0) for i, a in enumerate(spatial)]
    axes = _complete_axes(vectors)
    origin = np.zeros(3)
    if header.get("space origin") is not None:
        given = np.asarray(header["space origin"], dtype=np.float64)[:3]
        origin[: given.size] = given
    flip_x, flip_y = _LPS_FROM_SPACE.get(str(header.get("space", "")).lower().removesuffix("-time"), (1.0, 1.0))
    flip = np.array([flip_x, flip_y, 1.0])
    return _geometry(axes * flip[:, None], origin * flip, name)


def _nrrd_data(path: Path, header: dict[str, Any], header_size: int, nbytes: int) -> bytearray:
    """The voxel bytes, attached or detached, inflated no further than ``nbytes``."""
    encoding = str(header.get("encoding", "raw")).lower()
    line_skip = int(header.get("line skip", header.get("lineskip", 0)))
    byte_skip = int(header.get("byte skip", header.get("byteskip", 0)))
    data_file = header.get("data file", header.get("datafile"))
    if data_file is not None:
        if not isinstance(data_file, str) or data_file.startswith("LIST") or len(data_file.split()) > 1:
            raise UnreadableFileError(f"{path.name}: multi-file NRRD data is not supported")
        source, start = _inside(path.parent, data_file, path), 0
    else:
        source, start = path, header_size
    with source.open("rb") as f:
        f.seek(start)
        for _ in range(line_skip):
            f.readline(MAX_HEADER_BYTES)
        if encoding == "raw":
            size = source.stat().st_size
            if byte_skip == -1:
                f.seek(max(size - nbytes, f.tell()))
            else:
                f.seek(byte_skip, 1)
            return _read_exact(f, nbytes, path.name)
        if encoding in ("gzip", "gz"):
            _check_inflatable(nbytes + max(byte_skip, 0), source.stat().st_size - f.tell(), path.name)
        if encoding in ("gzip", "gz", "bzip2", "bz2"):
            stream: io.BufferedIOBase = gzip.GzipFile(fileobj=f) if encoding.startswith("gz") else bz2.BZ2File(f)
            try:
                _read_exact(stream, max(byte_skip, 0), path.name)
                return _read_exact(stream, nbytes, path.name)
            except (OSError, EOFError, zlib.error) as exc:
                detail = type(exc).__name__
                raise UnreadableFileError(f"{path.name}: compressed voxel data is corrupt ({detail})") from None
    raise UnreadableFileError(f"{path.name}: NRRD encoding {encoding!r} is not supported (use raw, gzip or bzip2)")


# --- MetaImage ----------------------------------------------------------------------------------

_MHA_FIELDS = frozenset({
    "ObjectType", "ObjectSubType", "NDims", "DimSize", "ElementType", "ElementNumberOfChannels",
    "ElementSpacing", "ElementSize", "ElementDataFile", "BinaryData", "BinaryDataByteOrderMSB",
    "ElementByteOrderMSB", "ByteOrderMSB", "CompressedData", "CompressedDataSize", "HeaderSize", "Offset",
    "Origin", "Position", "TransformMatrix", "Rotation", "Orientation", "CenterOfRotation",
    "AnatomicalOrientation", "ElementMin", "ElementMax", "Color",
})
"""MetaImage format and geometry keys; others (``Comment``, ``Name``, dates, custom keys) are dropped."""

_MHA_TYPES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8,
}
_MHA_LAST_LINE = re.compile(rb"\s*ElementDataFile\s*=")
_MHA_SNIFF = re.compile(rb"^[ \t]*(ObjectType|NDims)[ \t]*=", re.MULTILINE)


def sniff_metaimage(head: bytes) -> bool:
    return _MHA_SNIFF.search(head[:1024]) is not None


def read_metaimage(path: Path) -> Scene:
    fields = _metaimage_fields(path)
    try:
        sitk: Any = importlib.import_module("SimpleITK")
    except ImportError:
        raise MissingDependencyError(
            f"{path.name}: reading MetaImage needs SimpleITK (pip install SimpleITK)"
        ) from None
    reader = sitk.ImageFileReader()
    reader.SetImageIO("MetaImageIO")
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError:
        raise UnreadableFileError(f"{path.name}: SimpleITK could not read the MetaImage data") from None
    dims = image.GetDimension()
    values = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1:
        logger.info("%s: %d components per voxel; reading the first", path.name, image.GetNumberOfComponentsPerPixel())
        values = values[..., 0]
    values = values.transpose(tuple(range(dims - 1, -1, -1)))
    values = _native(_first_frame(values, list(range(min(dims, 3))), path.name))
    n = min(dims, 3)
    direction = np.eye(3)
    direction[:n, :n] = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dims, dims)[:n, :n]
    spacing = np.ones(3)
    spacing[:n] = np.asarray(image.GetSpacing(), dtype=np.float64)[:n]
    origin = np.zeros(3)
    origin[:n] = np.asarray(image.GetOrigin(), dtype=np.float64)[:n]
    removed = free_text_fields(fields, _MHA_FIELDS)
    return _scene(path, values, _geometry(direction * spacing, origin, path.name), removed)


def _metaimage_fields(path: Path) -> dict[str, str]:
    """The validated header: sizes against the limits and the data, the data file inside the folder."""
    lines, header_size = _text_header(path, _MHA_LAST_LINE)
    fields: dict[str, str] = {}
    for raw in lines:
        key, sep, value = raw.decode("latin-1").partition("=")
        if not sep:
            raise UnreadableFileError(f"{path.name}: MetaImage header line without '='")
        fields[key.strip()] = value.strip()
    try:
        ndims = int(fields["NDims"])
        dims = [int(n) for n in fields["DimSize"].split()]
        itemsize = _MHA_TYPES[fields["ElementType"].upper()]
        channels = int(fields.get("ElementNumberOfChannels", "1"))
        data_file = fields["ElementDataFile"]
    except KeyError as exc:
        raise UnreadableFileError(f"{path.name}: MetaImage header lacks or misstates {exc}") from None
    except ValueError:
        raise UnreadableFileError(f"{path.name}: MetaImage header has a non-numeric size") from None
    if fields.get("ObjectType", "Image").lower() != "image":
        raise UnreadableFileError(f"{path.name}: MetaImage object is not an Image")
    if not 2 <= ndims <= 4 or len(dims) != ndims or min(dims) <= 0 or channels <= 0:
        raise UnreadableFileError(f"{path.name}: MetaImage NDims/DimSize are inconsistent or not 2-4D")
    count = int(np.prod(dims, dtype=np.float64)) * channels
    _check_points(count, path.name)
    if data_file.split()[0].upper() == "LIST" or len(data_file.split()) > 1:
        raise UnreadableFileError(f"{path.name}: multi-file MetaImage data is not supported")
    if data_file.upper() == "LOCAL":
        available = path.stat().st_size - header_size
    else:
        skip = int(fields.get("HeaderSize", "0"))
        available = _inside(path.parent, data_file, path).stat().st_size - max(skip, 0)
    if fields.get("CompressedData", "false").lower() == "true":
        claimed = int(fields.get("CompressedDataSize", "0") or 0)
        if available <= 0 or claimed > available:
            raise UnreadableFileError(f"{path.name}: compressed voxel data is missing or truncated")
        _check_inflatable(count * itemsize, available, path.name)
    elif available < count * itemsize:
        raise UnreadableFileError(
            f"{path.name}: truncated: header says {count * itemsize:,} bytes of voxels but {max(available, 0):,} follow"
        )
    return fields


register(ReaderSpec(
    name="NIfTI", suffixes=(".nii", ".nii.gz"), read=read_nifti, sniff=sniff_nifti,
    description="NIfTI-1/2 volume (CT/MR intensities or a label map), optionally gzipped",
))
register(ReaderSpec(
    name="NRRD", suffixes=(".nrrd", ".nhdr"), read=read_nrrd, sniff=sniff_nrrd,
    description="NRRD volume, attached or detached (.nhdr) data, raw/gzip/bzip2",
))
register(ReaderSpec(
    name="MetaImage", suffixes=(".mha", ".mhd"), read=read_metaimage, sniff=sniff_metaimage,
    description="ITK MetaImage volume (.mha, or .mhd with a .raw/.zraw data file)",
))
