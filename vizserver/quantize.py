"""Uniform quantization of float values to small unsigned integer codes, and back.

One convention serves the GLB encoder (vertex fields, positions) and the streaming protocol
(field frames), so a client decodes both with the same three numbers:

    value = lo + code * step(lo, hi, bits, nodata)        (code == nodata_code(bits) -> no data)

Codes ``0 .. top`` cover ``[lo, hi]`` evenly, with ``top = 2**bits - 1``. When ``nodata`` is
set, the highest code ``2**bits - 1`` is reserved for non-finite values (NaN, +-inf: "no data",
e.g. tissue an activation wave never reached) and finite values use ``0 .. 2**bits - 2``.
Without ``nodata``, non-finite values are clamped: NaN and -inf to code 0, +inf to ``top``.
Codes are stored in the smallest unsigned container: uint8 for ``bits <= 8``, else uint16.
The round-trip error of a finite value inside ``[lo, hi]`` is at most ``step / 2``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_BITS = 16
"""Codes are at most 16 bits: they must fit a glTF UNSIGNED_SHORT attribute."""


def code_dtype(bits: int) -> type[np.uint8] | type[np.uint16]:
    """The container for codes of ``bits`` bits: uint8 up to 8 bits, uint16 up to 16."""
    _check_bits(bits)
    return np.uint8 if bits <= 8 else np.uint16


def top_code(bits: int, nodata: bool = False) -> int:
    """The code that ``hi`` maps to: ``2**bits - 1``, one less when the top code means no data."""
    _check_bits(bits)
    if nodata and bits < 2:
        raise ValueError("a no-data code needs at least 2 bits")
    return (1 << bits) - (2 if nodata else 1)


def nodata_code(bits: int) -> int:
    """The code reserved for non-finite values when quantizing with ``nodata=True``."""
    _check_bits(bits)
    return (1 << bits) - 1


def step(lo: float, hi: float, bits: int, nodata: bool = False) -> float:
    """The value one code stands for: ``(hi - lo) / top``; 0 when ``hi <= lo`` (a constant field)."""
    span = float(hi) - float(lo)
    return span / top_code(bits, nodata) if span > 0 else 0.0


def quantize(
    values: npt.ArrayLike,
    lo: npt.ArrayLike,
    hi: npt.ArrayLike,
    bits: int,
    *,
    nodata: bool = False,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    """Map ``[lo, hi]`` onto codes ``0 .. top_code(bits, nodata)``; values outside are clamped.

    ``lo`` and ``hi`` broadcast against ``values`` (per-axis bounds for positions, say). With
    ``nodata`` the non-finite values get :func:`nodata_code`; see the module docstring.
    """
    top = top_code(bits, nodata)
    x = np.asarray(values, dtype=np.float64)
    low = np.asarray(lo, dtype=np.float64)
    span = np.asarray(hi, dtype=np.float64) - low
    scale = np.where(span > 0, top / np.where(span > 0, span, 1.0), 0.0)
    with np.errstate(invalid="ignore"):
        codes = np.rint((x - low) * scale)
        np.clip(codes, 0, top, out=codes)  # +-inf clamp here; NaN stays NaN
        nan = np.isnan(codes)
        if nan.any():
            codes[nan] = 0
    out: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]
    out = codes.astype(np.uint8) if bits <= 8 else codes.astype(np.uint16)
    if nodata:
        out[~np.isfinite(x)] = nodata_code(bits)
    return out


def dequantize(
    codes: npt.ArrayLike,
    lo: npt.ArrayLike,
    hi: npt.ArrayLike,
    bits: int,
    *,
    nodata: bool = False,
) -> npt.NDArray[np.float32]:
    """Values back from codes: ``lo + code * (hi - lo) / top``; the no-data code gives NaN."""
    top = top_code(bits, nodata)
    c = np.asarray(codes)
    low = np.asarray(lo, dtype=np.float64)
    span = np.maximum(np.asarray(hi, dtype=np.float64) - low, 0.0)
    values = (low + c.astype(np.float64) * (span / top)).astype(np.float32)
    if nodata:
        values[c == nodata_code(bits)] = np.nan
    return values


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"quantization bits must be 1 to {MAX_BITS}, got {bits}")
