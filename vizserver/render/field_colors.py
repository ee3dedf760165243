"""Per-vertex colours of a field, as the browser's FieldDisplay and FieldMaterial compute them.

The client shows every field *name* with one style for all objects (so two runs compare on one scale): the
colour map of the first object's field of that name and, as range, the union of the objects' ranges
(``color_range``, else ``range``, else ``[0, 0]``; ``[0, 1]`` when none is finite). A value maps through the
range onto a 256-texel table sampled with linear filtering at texel ``t * 255``; a label field picks label
``round(value) mod labels``; no data (NaN) is grey; a vector field shows its magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vizserver.render.colormaps import CATEGORICAL_MAPS, NODATA_COLOR, colormap_table, hex_rgb, resolve
from vizserver.scenes.objects import StreamObject


@dataclass(frozen=True, slots=True)
class FieldStyle:
    """How one field name is coloured: map name, display range ``[lo, hi]``."""

    colormap: str
    lo: float
    hi: float

    @property
    def categorical(self) -> bool:
        return self.colormap in CATEGORICAL_MAPS


def field_style(objects: Iterable[StreamObject], name: str) -> FieldStyle | None:
    """The style the browser gives field ``name`` in a scene of ``objects`` (None: no object has that field)."""
    colormap: str | None = None
    lo, hi = math.inf, -math.inf
    for obj in objects:
        for f in obj.fields:
            if f.name != name:
                continue
            if colormap is None:
                colormap = resolve(f.colormap, f.categorical)
            r = f.color_range or f.range or (0.0, 0.0)
            if math.isfinite(r[0]) and math.isfinite(r[1]):
                lo, hi = min(lo, r[0]), max(hi, r[1])
    if colormap is None:
        return None
    if not math.isfinite(lo):
        lo, hi = 0.0, 1.0
    return FieldStyle(colormap, float(lo), float(hi))


_NODATA_RGB = hex_rgb([NODATA_COLOR])[0]


def vertex_colors(values: npt.NDArray[np.float32], style: FieldStyle) -> npt.NDArray[np.uint8]:
    """``(n, 3)`` RGB bytes for ``values`` (``(n,)`` or ``(n, components)``, NaN = no data)."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim == 2:
        v = np.sqrt(np.einsum("ij,ij->i", v, v, dtype=np.float64)).astype(np.float32)
    table = colormap_table(style.colormap).astype(np.float32)
    nodata = ~np.isfinite(v)
    safe = np.where(nodata, np.float32(style.lo), v)
    if style.categorical:
        labels = len(table)
        index = np.mod(np.floor(safe.astype(np.float64) + 0.5), labels).astype(np.int64)
        rgb = table[index]
    else:
        span = max(style.hi - style.lo, 1e-30)
        x = np.clip((safe.astype(np.float64) - style.lo) / span, 0.0, 1.0) * (len(table) - 1)
        k = np.minimum(np.floor(x).astype(np.int64), len(table) - 2)
        f = (x - k).astype(np.float32)[:, None]
        rgb = table[k] + (table[k + 1] - table[k]) * f
    out = np.rint(rgb).astype(np.uint8)
    out[nodata] = _NODATA_RGB
    return out
