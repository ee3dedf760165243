"""Vertex normals of a triangle surface: the area-weighted average of the incident faces' normals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FALLBACK_NORMAL = (0.0, 0.0, 1.0)
"""Given to vertices with no incident face of non-zero area (isolated or only degenerate faces)."""


def face_cross(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
    """``(b - a) x (c - a)`` per triangle, float64: the face normal scaled by twice the face's area.

    Zero for degenerate faces (repeated or collinear corners), so they weigh nothing anywhere.
    """
    v = vertices.astype(np.float64, copy=False)
    a, b, c = v[triangles[:, 0]], v[triangles[:, 1]], v[triangles[:, 2]]
    cross: npt.NDArray[np.float64] = np.cross(b - a, c - a)
    return cross


def triangle_areas(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
    """Area of each triangle (0 for degenerate ones), float64."""
    areas: npt.NDArray[np.float64] = 0.5 * np.linalg.norm(face_cross(vertices, triangles), axis=1)
    return areas


def vertex_normals(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> npt.NDArray[np.float32]:
    """Unit float32 normals ``(n, 3)``, following the triangles' winding (counter-clockwise = front).

    Each face adds its unnormalised cross product to its three corners, which weights faces by
    area; degenerate faces add nothing. Vertices left with a zero sum get :data:`FALLBACK_NORMAL`.
    """
    n = int(vertices.shape[0])
    cross = face_cross(vertices, triangles)
    corners = triangles.reshape(-1).astype(np.intp, copy=False)
    summed = np.empty((n, 3), dtype=np.float64)
    for axis in range(3):  # three whole-array passes, not a loop over vertices
        summed[:, axis] = np.bincount(corners, weights=np.repeat(cross[:, axis], 3), minlength=n)
    length = np.linalg.norm(summed, axis=1)
    ok = length > np.finfo(np.float64).tiny
    normals = np.empty((n, 3), dtype=np.float32)
    normals[ok] = summed[ok] / length[ok, None]
    normals[~ok] = FALLBACK_NORMAL
    return normals
