"""The browser's colour maps (webxr_client/src/colormapTables.js), for frames rendered on the server.

The anchor colours are the same values as the client's table (matplotlib's maps sampled at 33 evenly spaced
points; tab20 for labels); ``tests/unit/test_render_colormaps.py`` checks both lists and the 256-texel tables
against the client's own code, so a change on one side fails until the other follows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

COLORMAP_TABLES: dict[str, tuple[str, ...]] = {
    "viridis": (
        "440154", "470d60", "48186a", "482374", "472d7b", "453781", "424086", "3e4989",
        "3b528b", "375b8d", "33638d", "2f6b8e", "2c728e", "297a8e", "26828e", "23898e",
        "21918c", "1f988b", "1fa088", "22a785", "28ae80", "32b67a", "3fbc73", "4ec36b",
        "5ec962", "70cf57", "84d44b", "98d83e", "addc30", "c2df23", "d8e219", "ece51b",
        "fde725",
    ),
    "turbo": (
        "30123b", "392a73", "4040a2", "4456c7", "466be3", "4680f6", "4294ff", "37a8fa",
        "28bceb", "1ccdd8", "18ddc2", "1fe9af", "32f298", "4ef97d", "6dfe62", "8bff4b",
        "a4fc3c", "b9f635", "cdec34", "dfdf37", "eecf3a", "f8be39", "fdac34", "fe962b",
        "fb7e21", "f46617", "eb500e", "df3f08", "d02f05", "be2102", "a91601", "920b01",
        "7a0403",
    ),
    "coolwarm": (
        "3b4cc0", "445acc", "4e68d8", "5875e1", "6282ea", "6c8ff1", "779af7", "82a6fb",
        "8db0fe", "98b9ff", "a3c2fe", "aec9fc", "b9d0f9", "c3d5f4", "ccd9ed", "d5dbe5",
        "dddcdc", "e5d8d1", "ecd3c5", "f1ccb8", "f5c4ac", "f7ba9f", "f7b093", "f6a586",
        "f4987a", "f08b6e", "eb7d62", "e46e56", "dd5f4b", "d44e41", "ca3b37", "be242e",
        "b40426",
    ),
    "grey": ("000000", "ffffff"),
    "categorical": (
        "1f77b4", "aec7e8", "ff7f0e", "ffbb78", "2ca02c", "98df8a", "d62728", "ff9896", "9467bd", "c5b0d5",
        "8c564b", "c49c94", "e377c2", "f7b6d2", "7f7f7f", "c7c7c7", "bcbd22", "dbdb8d", "17becf", "9edae5",
    ),
}  # fmt: skip

CATEGORICAL_MAPS = frozenset({"categorical"})
COLORMAP_TEXELS = 256
"""Texels of a continuous map's table, as the client's ColormapTexture."""
DEFAULT_COLORMAP = "viridis"
NODATA_COLOR = "8c8c8c"
"""Colour of vertices with no data (the client's FieldMaterial NODATA_COLOR)."""


def resolve(name: str, categorical: bool = False) -> str:
    """The map the client shows for a field's ``colormap``: 'categorical' for labels, viridis for unknown names."""
    if categorical:
        return "categorical"
    return name if name in COLORMAP_TABLES else DEFAULT_COLORMAP


def hex_rgb(colors: tuple[str, ...] | list[str]) -> npt.NDArray[np.uint8]:
    """``(n, 3)`` bytes of ``rrggbb`` strings (a leading ``#`` is allowed)."""
    return np.array([[int(c.lstrip("#")[k : k + 2], 16) for k in (0, 2, 4)] for c in colors], dtype=np.uint8)


def colormap_table(name: str) -> npt.NDArray[np.uint8]:
    """RGB bytes ``(texels, 3)`` of map ``name``: 256 texels interpolated between the anchors for a continuous map,
    one per label for a categorical one (ColormapTexture.table without the alpha column)."""
    anchors = hex_rgb(COLORMAP_TABLES[name]).astype(np.float64)
    if name in CATEGORICAL_MAPS:
        return anchors.astype(np.uint8)
    x = np.arange(COLORMAP_TEXELS, dtype=np.float64) / (COLORMAP_TEXELS - 1) * (len(anchors) - 1)
    k = np.minimum(np.floor(x).astype(np.int64), len(anchors) - 2)
    f = (x - k)[:, None]
    # JavaScript's Math.round rounds halves up; np.rint would round them to even.
    table: npt.NDArray[np.uint8] = np.floor(anchors[k] + (anchors[k + 1] - anchors[k]) * f + 0.5).astype(np.uint8)
    return table
