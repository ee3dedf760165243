"""A procedural brain tissue label volume for the tumour twin: CSF, grey matter cortex, white matter.

The head is an ellipsoid (semi-axes about those of an adult brain: 68 x 84 x 58 mm, x left-right,
y posterior-anterior, z inferior-superior). From the outside in: a thin subarachnoid CSF shell, a
folded grey-matter cortex (gyri and sulci from a smooth trigonometric folding pattern, sulci cut
as CSF grooves), white matter, two lateral ventricles (CSF) and a midline fissure (CSF) that
separates the hemispheres above the corpus callosum. Deterministic: the same spacing gives the
same volume. Labels are those of :data:`CSF`, :data:`GREY`, :data:`WHITE` (0 is background).

:func:`tissue_surface` is the boundary of the tissue (grey and white matter) of any such volume:
the mesh the tumour twin draws its density on, and (via :func:`brain_surface`) the scene
generator ``brain_surface``, so a scene object and the twin's own mesh are the same surface.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vizserver.geometry.isosurface import label_surfaces
from vizserver.model import Field, Mesh, Volume

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

DEFAULT_SPACING_MM = 2.0
"""Voxel size of the tumour twin's brain and of the ``brain_surface`` scene generator."""


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


def brain_labels(spacing_mm: float = DEFAULT_SPACING_MM) -> Volume:
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


def tissue_surface(brain: Volume) -> Mesh:
    """The boundary of the tissue (grey + white matter) of a label volume: pial surface and ventricle walls.

    Surface nets on the tissue mask, in the volume's world coordinates (mm). The point field
    ``label`` says which tissue each vertex bounds: :data:`WHITE` where most tissue voxels round it
    are white (the ventricle walls), else :data:`GREY` (the cortex).
    """
    labels = np.asarray(brain.values)
    tissue = (labels == GREY) | (labels == WHITE)
    mask = Volume(tissue.astype(np.uint8), spacing=brain.spacing, origin=brain.origin, direction=brain.direction,
                  kind="labels", unit=brain.unit)
    surface = label_surfaces(mask, "brain")[0][1]
    local = (surface.vertices.astype(np.float64) - np.asarray(brain.origin)) @ np.asarray(brain.direction)
    index = local / np.asarray(brain.spacing, dtype=np.float64)
    lower = np.clip(np.floor(index).astype(np.int64), 0, np.asarray(labels.shape) - 2)
    white = np.zeros(len(index), dtype=np.int64)
    grey = np.zeros(len(index), dtype=np.int64)
    for corner in np.ndindex(2, 2, 2):  # the 8 voxels round each vertex (surface nets puts it inside that cell)
        i, j, k = (lower + np.asarray(corner)).T
        around = labels[i, j, k]
        white += around == WHITE
        grey += around == GREY
    tissue_label = np.where(white > grey, WHITE, GREY).astype(np.float32)
    return surface.with_point_fields({"label": Field("label", tissue_label)})


def brain_surface(spacing: float = DEFAULT_SPACING_MM) -> Mesh:
    """The tissue surface of :func:`brain_labels` at ``spacing`` mm: the scene generator ``brain_surface``."""
    return tissue_surface(brain_labels(float(spacing)))
