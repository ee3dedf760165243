"""DICOM series: a folder (searched recursively), a .zip of one, or one file standing for its series.

**Which files.** Every regular file whose bytes 128-131 read ``DICM`` (DICOM Part 10) is parsed;
other files (README, thumbnails, files without the preamble) are skipped and counted, and so are
DICOM files without an image (DICOMDIR, reports, structure sets). Symbolic links are skipped.
A single file (``.dcm``, or any Part 10 file) stands for its series: the files beside it (not in
subfolders) that belong to the same series are read with it.

**Which series.** Images are grouped by SeriesInstanceUID and the series with the most images is
read, as one :class:`Volume`; the log counts the others. (One object per series would put
localizers, reformats and dose reports into the scene beside the scan.)

**Geometry.** World coordinates are DICOM's patient frame, LPS millimetres, as in
:mod:`vizserver.io.volume`. ``values[i, j, k]``: ``i`` runs along a row (the first vector of
ImageOrientationPatient, spaced PixelSpacing[1]), ``j`` down a column (the second vector,
PixelSpacing[0]), ``k`` through the slices, sorted by ImagePositionPatient projected on the
normal ``row x column``. The ``k`` axis is the step from the first to the last position, so a
gantry tilt gives a sheared but exact grid; gaps must be uniform within 1 %, and two slices at
one position (echoes, phases) are refused. The origin is the first slice's position. Slices must
share their size, orientation and pixel spacing. A lone slice is ``SliceThickness`` deep.

**Values.** RescaleSlope/RescaleIntercept are applied (``unit="HU"`` for CT, else RescaleType
unless it is ``US``, unspecified). The voxel type is the smallest of int16/int32 that holds the
rescaled range implied by BitsStored, or float32 for a fractional rescale. Labels or intensity
follows :func:`vizserver.io.volume.classify` with the folder or zip stem as the name hint.
Compressed transfer syntaxes decode when pydicom has a decoder for them (it reads RLE itself,
JPEG baseline with Pillow); otherwise the error names the transfer syntax and what to install.
Multi-frame (enhanced) images and colour images are refused with a clear message.

**Privacy.** Each dataset is stripped (:func:`vizserver.io.deidentify.strip_dicom`) right after
parsing, before any value is looked at, while pydicom runs with value validation off, its
warnings ignored and its logger muted, so no value is echoed into a warning or a log line (these
settings are process-wide, so DICOM reads in one process take turns). Only pixels and geometry leave
this module; datasets are dropped. Messages name a file in a folder by its file name and a
member of a zip by its position (``member #3``), since paths inside a zip often carry the
patient's name; they never quote pydicom's own messages, which can contain values. The scene is
titled after the folder, zip or file the caller named, never after a header field.

**Limits.** At most ``limits().max_archive_members`` files and ``max_input_bytes`` of DICOM data
from a folder (zips are held to :mod:`vizserver.io.archive`'s limits), and the series at most
``max_points`` voxels, checked from the headers before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import threading
import warnings
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vizserver.config import limits
from vizserver.errors import LimitExceededError, UnreadableFileError
from vizserver.io import archive
from vizserver.io.deidentify import strip_dicom
from vizserver.io.registry import ReaderSpec, register
from vizserver.io.volume import classify
from vizserver.model import Scene, SceneObject, Volume

logger = logging.getLogger(__name__)

SLICE_GAP_TOLERANCE = 0.01
"""Largest relative deviation of one slice gap from the mean gap."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

_PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OSError, OverflowError,
    RuntimeError, struct.error,
)
"""What pydicom raises on a malformed file, with its own errors (:func:`_parse_errors`)."""


_PYDICOM_LOCK = threading.Lock()
"""pydicom's validation mode and the warning filters are process-wide: one DICOM read at a time per
process, so one read's restoring them cannot let another's warnings (which quote values) through."""


def _parse_errors() -> tuple[type[Exception], ...]:
    """Every error type pydicom raises on malformed input; their messages can quote values."""
    from pydicom.errors import BytesLengthException, InvalidDicomError

    return (InvalidDicomError, BytesLengthException, *_PARSE_ERRORS)


@dataclass(frozen=True, slots=True)
class _Header:
    """What pass one keeps of a slice: no identifiers (``series`` is a hash of the UID)."""

    key: int
    label: str
    series: str
    shape: tuple[int, int]
    position: npt.NDArray[np.float64]
    row: npt.NDArray[np.float64]
    column: npt.NDArray[np.float64]
    pixel_spacing: tuple[float, float]
    thickness: float
    placed: bool
    slope: float
    intercept: float
    bits: tuple[int, bool]
    modality: str
    rescale_type: str
    removed: tuple[str, ...]


def sniff_dicom(head: bytes) -> bool:
    """A Part 10 file (``DICM`` at 128), or a zip archive (read as a series)."""
    return head[128:132] == b"DICM" or head[:4] in _ZIP_MAGIC


def read_dicom(path: Path) -> Scene:
    with _PYDICOM_LOCK, _quiet_pydicom():
        return _read(path)


def _read(path: Path) -> Scene:
    is_zip = path.is_file() and (path.suffix.lower() == ".zip" or _starts_with(path, _ZIP_MAGIC))
    target: str | None = None
    if path.is_file() and not is_zip:
        first = _parse_header(-1, path.name, path.read_bytes(), path.name)
        if not isinstance(first, _Header):
            raise UnreadableFileError(f"{path.name}: not a DICOM image file")
        target = first.series
    files = None if is_zip else _folder_files(path if path.is_dir() else path.parent, recursive=path.is_dir())
    skipped: Counter[str] = Counter()
    headers: list[_Header] = []
    for key, label, data in _items(path, files):
        parsed = _parse_header(key, label, data, path.name)
        if isinstance(parsed, str):
            skipped[parsed] += 1
        elif target is None or parsed.series == target:
            headers.append(parsed)
    if not headers:
        raise UnreadableFileError(
            f"{path.name}: no DICOM images found ({skipped['not DICOM']} non-DICOM files, "
            f"{skipped['no image']} DICOM files without an image)"
        )
    groups: dict[str, list[_Header]] = {}
    for header in headers:
        groups.setdefault(header.series, []).append(header)
    series = max(groups.values(), key=len)
    ordered, spacing, origin, direction = _layout(series, path.name)
    rows, columns = series[0].shape
    count = rows * columns * len(series)
    if count > limits().max_points:
        raise LimitExceededError(f"{path.name}: series has {count:,} voxels, over the limit of {limits().max_points:,}")
    values = _pixels(path, files, ordered)
    stem = path.name if path.is_dir() else path.stem
    kind, values = classify(values, stem)
    modality = series[0].modality
    unit = "HU" if modality == "CT" else ("" if series[0].rescale_type in ("", "US") else series[0].rescale_type)
    removed = tuple(sorted({name for h in series for name in h.removed}))
    volume = Volume(values, spacing, origin, direction, kind=kind, unit=unit, removed_identifiers=removed)
    logger.info(
        "%s: read %d slices of %dx%d from the largest of %d series; skipped %d non-DICOM files and "
        "%d DICOM files without an image; dropped %d kinds of identifying element",
        path.name, len(series), columns, rows, len(groups), skipped["not DICOM"], skipped["no image"], len(removed),
    )
    name = f"{modality or 'DICOM'} series"
    return Scene(stem, (SceneObject(name, volume),), removed_identifiers=removed)


# --- sources: folder files or zip members, as (key, label, bytes) ----------------------------------


def _folder_files(folder: Path, *, recursive: bool) -> list[Path]:
    """Regular files (no symbolic links) in ``folder``, sorted; refuses too many files."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        found.extend(Path(root) / n for n in sorted(names) if not os.path.islink(os.path.join(root, n)))
        if not recursive:
            break
    limit = limits().max_archive_members
    if len(found) > limit:
        raise LimitExceededError(f"{folder.name}: {len(found):,} files is over the limit of {limit:,}")
    return [f for f in found if f.is_file()]


def _items(
    path: Path, files: list[Path] | None, only: Collection[int] | None = None
) -> Iterator[tuple[int, str, bytes]]:
    """``(key, label, bytes)`` per folder file or zip member; a folder's non-DICOM files come empty."""
    if files is None:
        for member, data in archive.read_members(path, only):
            yield member.index, member.label, data
        return
    budget = limits().max_input_bytes
    for key, file in enumerate(files):
        if only is not None and key not in only:
            continue
        if not _starts_with(file, (b"DICM",), offset=128):
            yield key, file.name, b""
            continue
        data = file.read_bytes()
        budget -= len(data)
        if budget < 0:
            raise LimitExceededError(
                f"{path.name}: DICOM files add up to more than the {limits().max_input_bytes:,}-byte input limit"
            )
        yield key, file.name, data


def _starts_with(path: Path, prefixes: tuple[bytes, ...], offset: int = 0) -> bool:
    with path.open("rb") as f:
        f.seek(offset)
        head = f.read(max(len(p) for p in prefixes))
    return head in prefixes


# --- parsing ----------------------------------------------------------------------------------------


@contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """pydicom with value validation off, warnings ignored and its logger muted: nothing echoes a value."""
    from pydicom import config

    pydicom_logger = logging.getLogger("pydicom")
    old_mode = config.settings.reading_validation_mode
    config.settings.reading_validation_mode = config.IGNORE
    pydicom_logger.addFilter(_drop_record)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pydicom_logger.removeFilter(_drop_record)
        config.settings.reading_validation_mode = old_mode


def _drop_record(record: logging.LogRecord) -> bool:
    return False


def _dataset(label: str, data: bytes, name: str, *, pixels: bool) -> tuple[Any, str, tuple[str, ...]] | None:
    """The stripped dataset, the series hash and the removed names; ``None`` if not Part 10."""
    import pydicom

    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)
        uid = dataset.get("SeriesInstanceUID")
        series = hashlib.sha256(str(uid).encode()).hexdigest()[:16]
        removed = strip_dicom(dataset)
    except _parse_errors():
        raise UnreadableFileError(f"{name}: {label} is a corrupt DICOM file") from None
    return dataset, series, removed


def _parse_header(key: int, label: str, data: bytes, name: str) -> _Header | str:
    """Pass one: the slice's geometry, or why the file is skipped (``"not DICOM"``, ``"no image"``)."""
    parsed = _dataset(label, data, name, pixels=False)
    if parsed is None:
        return "not DICOM"
    ds, series, removed = parsed
    if "Rows" not in ds or "Columns" not in ds:
        return "no image"
    try:
        if int(ds.get("NumberOfFrames") or 1) > 1:
            raise UnreadableFileError(
                f"{name}: {label} is a multi-frame (enhanced) image, which is not supported; "
                "export the series as one file per slice"
            )
        if int(ds.get("SamplesPerPixel") or 1) != 1:
            raise UnreadableFileError(f"{name}: {label} is a colour image; only greyscale series are read")
        orientation = ds.get("ImageOrientationPatient")
        position = ds.get("ImagePositionPatient")
        placed = orientation is not None and position is not None
        iop = np.array([float(v) for v in orientation] if placed else [1, 0, 0, 0, 1, 0], dtype=np.float64)
        ipp = np.array([float(v) for v in position] if placed else [0, 0, 0], dtype=np.float64)
        spacing = [float(v) for v in ds.get("PixelSpacing") or (1.0, 1.0)]
        thickness = float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0)
        modality = str(ds.get("Modality") or "").strip().upper()
        rescale_type = str(ds.get("RescaleType") or "").strip()
        header = _Header(
            key=key, label=label, series=series, shape=(int(ds.Rows), int(ds.Columns)), position=ipp,
            row=iop[:3], column=iop[3:6], pixel_spacing=(spacing[0], spacing[1]), thickness=thickness,
            placed=placed, slope=float(ds.get("RescaleSlope") or 1.0),
            intercept=float(ds.get("RescaleIntercept") or 0.0),
            bits=(int(ds.get("BitsStored") or 16), int(ds.get("PixelRepresentation") or 0) == 1),
            modality=modality if re.fullmatch(r"[A-Z]{2,4}", modality) else "",
            rescale_type=rescale_type if re.fullmatch(r"[A-Za-z%/^0-9]{1,16}", rescale_type) else "",
            removed=removed,
        )
    except _parse_errors():
        raise UnreadableFileError(f"{name}: {label} has malformed geometry or pixel description") from None
    numbers = np.array([*iop, *ipp, *spacing, thickness, header.slope, header.intercept], dtype=np.float64)
    if (min(header.shape) <= 0 or iop.size != 6 or ipp.size != 3 or len(spacing) != 2
            or not np.all(np.isfinite(numbers)) or min(spacing) <= 0 or not 1 <= header.bits[0] <= 32
            or np.linalg.norm(np.cross(iop[:3], iop[3:])) < 1e-6):
        raise UnreadableFileError(f"{name}: {label} has malformed geometry or pixel description")
    return header


def _layout(
    series: list[_Header], name: str
) -> tuple[list[_Header], tuple[float, float, float], tuple[float, float, float], npt.NDArray[np.float64]]:
    """Slices in stacking order, and the grid's spacing, origin and direction; refuses irregular series."""
    first = series[0]
    shapes = Counter(h.shape for h in series)
    if len(shapes) > 1:
        sizes = ", ".join(f"{c}x{r} in {n}" for (r, c), n in shapes.most_common())
        raise UnreadableFileError(f"{name}: slices differ in size ({sizes}); cannot stack them")
    if any(not (np.allclose(h.row, first.row, atol=1e-4) and np.allclose(h.column, first.column, atol=1e-4))
           for h in series):
        raise UnreadableFileError(f"{name}: slices differ in orientation (localizers or reformats in the series?)")
    if any(not np.allclose(h.pixel_spacing, first.pixel_spacing, rtol=1e-4) for h in series):
        raise UnreadableFileError(f"{name}: slices differ in pixel spacing")
    if len(series) > 1 and not all(h.placed for h in series):
        raise UnreadableFileError(f"{name}: slices lack ImagePositionPatient/ImageOrientationPatient")
    row = first.row / np.linalg.norm(first.row)
    column = first.column / np.linalg.norm(first.column)
    normal = np.cross(row, column)
    positions = np.stack([h.position for h in series])
    depth = positions @ normal
    order = np.argsort(depth, kind="stable")
    ordered = [series[i] for i in order]
    if len(series) > 1:
        gaps = np.diff(depth[order])
        mean = float(depth[order[-1]] - depth[order[0]]) / (len(series) - 1)
        if gaps.min() <= 1e-4 * max(mean, 1e-6):
            raise UnreadableFileError(
                f"{name}: {int(np.sum(gaps <= 1e-4 * max(mean, 1e-6))) + 1} slices share a position "
                "(several echoes, phases or duplicates in one series?)"
            )
        if np.abs(gaps - mean).max() > SLICE_GAP_TOLERANCE * mean:
            raise UnreadableFileError(
                f"{name}: slice gaps vary from {gaps.min():.4g} to {gaps.max():.4g} mm (missing slices?); "
                "cannot make a regular grid"
            )
        step = (positions[order[-1]] - positions[order[0]]) / (len(series) - 1)
    else:
        step = normal * first.thickness
    depth_spacing = float(np.linalg.norm(step))
    direction = np.stack([row, column, step / depth_spacing], axis=1)
    spacing = (first.pixel_spacing[1], first.pixel_spacing[0], depth_spacing)
    o = ordered[0].position.tolist()
    return ordered, spacing, (o[0], o[1], o[2]), direction


# --- pass two: pixels -----------------------------------------------------------------------------


def _pixels(path: Path, files: list[Path] | None, ordered: list[_Header]) -> npt.NDArray[np.generic]:
    """The rescaled slices stacked as ``values[i, j, k]`` (decoded only for the chosen series)."""
    rows, columns = ordered[0].shape
    values: npt.NDArray[np.generic] | None = None
    slot = {h.key: k for k, h in enumerate(ordered)}
    done = 0
    for key, label, data in _items(path, files, only=slot):
        header = ordered[slot[key]]
        parsed = _dataset(label, data, path.name, pixels=True)
        if parsed is None:
            raise UnreadableFileError(f"{path.name}: {label} changed while it was read")
        pixels = _decode(parsed[0], label, path.name)
        if pixels.shape != (rows, columns):
            raise UnreadableFileError(f"{path.name}: {label} pixel data does not match its {columns}x{rows} size")
        if values is None:
            dtype = _value_type(ordered) if pixels.dtype.kind in "iub" else np.dtype(np.float32)
            values = np.empty((len(ordered), rows, columns), dtype=dtype)
        if header.slope == 1.0 and header.intercept == 0.0:
            values[slot[key]] = pixels
        else:
            values[slot[key]] = pixels * header.slope + header.intercept
        done += 1
    if values is None or done != len(ordered):
        raise UnreadableFileError(f"{path.name}: files changed while the series was read")
    return values.transpose(2, 1, 0)


def _value_type(series: list[_Header]) -> np.dtype[Any]:
    """int16 or int32 if the rescaled range (from BitsStored) fits, float32 otherwise."""
    lows, highs = [], []
    for h in series:
        stored, signed = h.bits
        if not (h.slope.is_integer() and h.intercept.is_integer()):
            return np.dtype(np.float32)
        lo, hi = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
        ends = (lo * h.slope + h.intercept, hi * h.slope + h.intercept)
        lows.append(min(ends))
        highs.append(max(ends))
    for candidate in (np.int16, np.int32):
        info = np.iinfo(candidate)
        if info.min <= min(lows) and max(highs) <= info.max:
            return np.dtype(candidate)
    return np.dtype(np.float32)


def _decode(dataset: Any, label: str, name: str) -> npt.NDArray[Any]:
    from pydicom.pixels.decoders.base import get_decoder

    if not any(k in dataset for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise UnreadableFileError(f"{name}: {label} has no pixel data")
    syntax = dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
    if syntax is None:
        raise UnreadableFileError(f"{name}: {label} does not state its transfer syntax")
    if syntax.is_compressed:
        try:
            available = get_decoder(syntax).is_available
        except NotImplementedError:
            available = False
        if not available:
            raise UnreadableFileError(
                f"{name}: {label} pixel data is compressed as {syntax.name} ({syntax}) and no installed "
                "decoder reads it (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or python-gdcm)"
            )
    try:
        pixels: npt.NDArray[Any] = dataset.pixel_array
    except MemoryError:
        raise
    except Exception:  # pydicom and its plugins raise many types; the message may quote values
        raise UnreadableFileError(
            f"{name}: {label} pixel data ({syntax.name}) is corrupt or truncated"
        ) from None
    return pixels


register(ReaderSpec(
    name="DICOM series", suffixes=(), read=read_dicom, directory=True,
    description="folder of DICOM files (searched recursively); the largest series is read",
))
register(ReaderSpec(
    name="DICOM", suffixes=(".dcm", ".zip"), read=read_dicom, sniff=sniff_dicom,
    description="zip of a DICOM series, or one DICOM file standing for the series in its folder",
))
