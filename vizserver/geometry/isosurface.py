"""Surfaces from volumes: one smooth surface per label of a segmentation, or an iso-surface of intensities.

Label volumes go through VTK's surface nets (``vtkSurfaceNets3D``, VTK >= 9.3), which builds all
labels' surfaces in one pass with shared, smoothed boundaries between touching labels; each
label's surface is then cut out and wound outward. Intensity volumes go through flying edges
(``vtkFlyingEdges3D``). Both filters honour the image's origin, spacing and direction, so the
vertices come out in world coordinates. Iso-surfaces enclose the values *above* the iso value
(bone in CT), with normals toward lower values.

Without an iso value, Otsu's threshold is used: the level that best splits the histogram into two
classes (maximal between-class variance; the middle of the gap when the classes are cleanly apart),
which in CT/MR separates background/air from the body.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pyvista as pv
import vtk

from vizserver.errors import InvalidGeometryError
from vizserver.geometry.boundary import compact
from vizserver.model import Field, Mesh, Volume
from vizserver.vtk_bridge import polydata_to_mesh, volume_to_image

OTSU_BINS = 256
"""Histogram bins for the automatic iso value."""

OTSU_MAX_SAMPLES = 4_000_000
"""Voxels sampled (evenly strided) for the histogram; enough for a stable threshold on any volume."""


def otsu_threshold(values: npt.NDArray[np.generic]) -> float:
    """Otsu's threshold of the finite values (their midpoint when all are equal; NaN when none)."""
    flat = np.asarray(values).reshape(-1)
    if flat.size > OTSU_MAX_SAMPLES:
        flat = flat[:: flat.size // OTSU_MAX_SAMPLES + 1]
    flat = flat.astype(np.float64, copy=False)
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return float("nan")
    lo, hi = float(flat.min()), float(flat.max())
    if lo == hi:
        return lo
    hist, edges = np.histogram(flat, bins=OTSU_BINS, range=(lo, hi))
    centers = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centers)
    m0 = s0 / np.maximum(w0, 1.0)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1.0)
    between = np.where((w0 > 0) & (w1 > 0), w0 * w1 * (m0 - m1) ** 2, -1.0)
    # well-separated classes leave a plateau of equally good thresholds (the empty gap between
    # them): take its middle, where a partial-volume edge is half-way, not its first bin
    best = np.flatnonzero(between >= between.max() * (1.0 - 1e-9))
    return float(0.5 * (edges[best[0] + 1] + edges[best[-1] + 1]))


def _image(volume: Volume) -> pv.ImageData:
    """The volume as VTK image data; types VTK lacks (bool, float16) are widened first."""
    kind, size = volume.values.dtype.kind, volume.values.dtype.itemsize
    if kind == "b":
        volume = replace(volume, values=volume.values.astype(np.uint8))
    elif kind == "f" and size < 4:
        volume = replace(volume, values=volume.values.astype(np.float32))
    return volume_to_image(volume)


def iso_surface(volume: Volume, name: str, iso: float | None = None) -> tuple[float, Mesh]:
    """``(iso, surface)``: the surface where the volume crosses ``iso`` (Otsu's threshold by default).

    Raises :class:`InvalidGeometryError` when ``iso`` is outside the volume's range or the
    surface is empty (a constant volume).
    """
    lo, hi = volume.range
    level = otsu_threshold(volume.values) if iso is None else float(iso)
    if not (np.isfinite(lo) and np.isfinite(level)):
        raise InvalidGeometryError(f"{name}: volume has no finite values to draw an iso-surface from")
    if not lo <= level <= hi:
        raise InvalidGeometryError(f"{name}: iso value {level:g} is outside the volume's range [{lo:g}, {hi:g}]")
    edges = vtk.vtkFlyingEdges3D()
    edges.SetInputData(_image(volume))
    edges.SetValue(0, level)
    edges.ComputeNormalsOff()
    edges.ComputeGradientsOff()
    edges.ComputeScalarsOff()
    edges.Update()
    mesh = polydata_to_mesh(pv.wrap(edges.GetOutput()))
    if mesh.n_triangles == 0:
        raise InvalidGeometryError(f"{name}: iso value {level:g} gives an empty surface (range [{lo:g}, {hi:g}])")
    return level, Mesh(mesh.vertices, mesh.triangles)


def label_surfaces(volume: Volume, name: str) -> list[tuple[int, Mesh]]:
    """``(label, surface)`` for each non-zero label present, wound outward, with a ``label`` point field.

    Raises :class:`InvalidGeometryError` when the volume holds only background (0).
    """
    labels = volume.labels
    if labels.size == 0:
        raise InvalidGeometryError(f"{name}: label volume has no labels (only background 0)")
    nets = vtk.vtkSurfaceNets3D()
    nets.SetInputData(_image(volume))
    nets.SetBackgroundLabel(0)
    for i, label in enumerate(labels.tolist()):
        nets.SetLabel(i, float(label))
    nets.SetOutputMeshTypeToTriangles()
    nets.Update()
    poly = pv.wrap(nets.GetOutput())
    if poly.n_cells == 0:
        raise InvalidGeometryError(f"{name}: surface nets gave no surface for labels {labels.tolist()}")
    points = np.asarray(poly.points, dtype=np.float32)
    triangles = np.asarray(poly.regular_faces, dtype=np.uint32)
    # each triangle separates the region of pair[0] from that of pair[1], its normal pointing into pair[1]
    pairs = np.asarray(poly.cell_data["BoundaryLabels"]).astype(np.int64).reshape(-1, 2)
    tri_index = np.concatenate([np.arange(pairs.shape[0]), np.arange(pairs.shape[0])])
    side = np.concatenate([pairs[:, 0], pairs[:, 1]])
    flipped = np.repeat([False, True], pairs.shape[0])
    order = np.argsort(side, kind="stable")
    side, tri_index, flipped = side[order], tri_index[order], flipped[order]
    out: list[tuple[int, Mesh]] = []
    for label in labels.tolist():  # one slice per label, not a pass over all triangles per label
        start, stop = np.searchsorted(side, [label, label + 1])
        if stop <= start:
            continue
        tris = triangles[tri_index[start:stop]]
        tris = np.where(flipped[start:stop, None], tris[:, ::-1], tris)
        used, local = compact(tris, points.shape[0])
        values = np.full(used.shape[0], label, dtype=np.float32)
        out.append((int(label), Mesh(points[used], local, point_fields={"label": Field("label", values)})))
    return out
