"""A procedural brain tissue label volume for the tumour twin: CSF, grey matter cortex, white matter.

The head is an ellipsoid (semi-axes about those of an adult brain: 68 x 84 x 58 mm, x left-right,
y posterior-anterior, z inferior-superior). From the outside in: a thin subarachnoid CSF shell, a
folded grey-matter cortex (gyri and sulci from a smooth trigonometric folding pattern, sulci cut
as CSF grooves), white matter, two lateral ventricles (CSF) and a midline fissure (CSF) that
separates the hemispheres above the corpus callosum. Deterministic: the same spacing gives the
same volume. Labels are those of :data:`CSF`, :data:`GREY`, :data:`WHITE` (0 is background).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vizserver.model import Volume

BACKGROUND, CSF, GREY, WHITE = 0, 1, 2, 3
"""Tissue labels of :func:`brain_labels`."""

BRAIN_SEMI_AXES_MM = (68.0, 84.0, 58.0)
"""Semi-axes of the brain (pial) ellipsoid, mm: x left-right, y posterior-anterior, z inferior-superior."""

CSF_SHELL_MM = 3.0
"""Subarachnoid CSF between the pial surface and the (implicit) skull."""

CORTEX_MM = 4.0
"""Mean cortical (grey matter) thickness; folds push white matter into it and sulci cut through it."""

FOLD_PERIOD_MM = 22.0
"""Spacing of the gyri."""

MARGIN_VOXELS = 2
"""Background voxels around the head on every side."""


def _folds(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], z: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """A smooth folding pattern in [-1, 1] (gyri where positive, sulci where close to -1)."""
    k = 2.0 * np.pi / FOLD_PERIOD_MM
    pattern = (
        np.sin(k * x + 0.7 * np.sin(0.5 * k * y))
        + np.sin(k * y + 0.9 * np.sin(0.5 * k * z))
        + np.sin(k * z + 0.8 * np.sin(0.5 * k * x))
    )
    folds: npt.NDArray[np.float64] = pattern / 3.0
    return folds


def brain_labels(spacing_mm: float = 2.0) -> Volume:
    """The procedural brain as a label volume (``kind="labels"``), centred on the origin, in mm."""
    if not (np.isfinite(spacing_mm) and 0.25 <= spacing_mm <= 5.0):
        raise ValueError(f"brain spacing {spacing_mm} mm is outside [0.25, 5]")
    a, b, c = BRAIN_SEMI_AXES_MM
    half = np.array([a, b, c]) + CSF_SHELL_MM
    n = (np.ceil(half / spacing_mm).astype(int) + MARGIN_VOXELS) * 2 + 1
    origin = -(n - 1) / 2.0 * spacing_mm
    x, y, z = np.meshgrid(*(origin[i] + spacing_mm * np.arange(n[i]) for i in range(3)), indexing="ij", sparse=True)
    q = np.sqrt((x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)  # 1 on the pial surface
    depth = (1.0 - q) * min(a, b, c)  # approximate depth below the pial surface, mm
    folds = _folds(x, y, z)
    labels = np.zeros(tuple(int(v) for v in n), dtype=np.uint8)
    labels[q <= 1.0 + CSF_SHELL_MM / min(a, b, c)] = CSF
    brain = depth >= 0.0
    # grey above the folded grey/white boundary; gyri (folds > 0) bring white matter close to the surface
    white_depth = CORTEX_MM * (1.0 - 0.6 * folds) + 2.0 * np.clip(-folds, 0.0, None)
    labels[brain] = GREY
    labels[brain & (depth > white_depth)] = WHITE
    # sulci: CSF grooves where the pattern is deepest, as deep as the cortex
    sulci = brain & (folds < -0.55) & (depth < CORTEX_MM * 1.5)
    labels[sulci] = CSF
    # midline (interhemispheric) fissure above the corpus callosum, lined with grey matter
    fissure = brain & (np.abs(x) < 1.0 + 0.5 * spacing_mm) & (z > 0.25 * c)
    cortex_wall = brain & (np.abs(x) < 1.0 + 0.5 * spacing_mm + CORTEX_MM) & (z > 0.25 * c)
    labels[cortex_wall & ~fissure & (labels == WHITE)] = GREY
    labels[fissure] = CSF
    # lateral ventricles: two tilted ellipsoids either side of the midline
    for side in (-1.0, 1.0):
        v = (
            ((x - side * 0.16 * a) / (0.09 * a)) ** 2
            + ((y - 0.05 * b) / (0.38 * b)) ** 2
            + ((z - 0.1 * c) / (0.14 * c)) ** 2
        )
        labels[v <= 1.0] = CSF
    return Volume(
        labels,
        spacing=(spacing_mm, spacing_mm, spacing_mm),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        kind="labels",
        unit="mm",
    )
