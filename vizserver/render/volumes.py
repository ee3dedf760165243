"""CT/MR volumes of a scene, found by the scene file and drawn by VTK's volume ray caster.

A scene object whose ``source`` reads as an intensity :class:`~vizserver.model.volume.Volume` (NRRD, NIfTI,
MetaImage, DICOM) is shown in the browser as its iso-surface; the video view draws the voxels themselves
instead. Label volumes keep their surfaces (segments are better seen as surfaces).

Transfer function: opacity rises from the volume's median to its 99.5th percentile (air and soft background
transparent, the brightest structures nearly opaque); colour runs from a dark red through flesh to white.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vizserver.errors import VizServerError
from vizserver.io.registry import read
from vizserver.model.volume import Volume
from vizserver.scenefile import load_scene_file, object_path

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd", ".dcm")
OPACITY_LOW_PERCENTILE = 50.0
OPACITY_HIGH_PERCENTILE = 99.5
MAX_OPACITY = 0.85


@dataclass(frozen=True, slots=True)
class VolumeSource:
    """Object ``name`` of a scene shows the volume in ``path``."""

    name: str
    path: Path


def volume_sources(scene_path: Path) -> tuple[VolumeSource, ...]:
    """The scene's objects whose source may be a volume (by suffix, or a folder: a DICOM series)."""
    spec = load_scene_file(scene_path)
    found = []
    for obj in spec.objects:
        try:
            path = object_path(scene_path, obj)
        except VizServerError:  # an asset not fetched: the scene itself fails to build with that message
            continue
        if path is not None and (path.is_dir() or path.name.lower().endswith(VOLUME_SUFFIXES)):
            found.append(VolumeSource(obj.name, path))
    return tuple(found)


def read_intensity_volume(path: Path) -> Volume | None:
    """The intensity volume in ``path``; None when it holds something else (labels, a mesh)."""
    try:
        scene = read(path)
    except VizServerError:
        return None
    for obj in scene.objects:
        if isinstance(obj.data, Volume) and obj.data.kind == "intensity":
            return obj.data
    return None


def voxel_matrix(volume: Volume) -> npt.NDArray[np.float64]:
    """4x4 from voxel-spaced image coordinates (index times spacing) to the volume's world frame."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(volume.direction, dtype=np.float64)
    m[:3, 3] = volume.origin
    return m


def opacity_range(values: npt.NDArray[np.generic]) -> tuple[float, float]:
    """Values where opacity starts rising and where it reaches its maximum."""
    finite = np.asarray(values, dtype=np.float32).ravel()
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [OPACITY_LOW_PERCENTILE, OPACITY_HIGH_PERCENTILE])
    if hi <= lo:
        hi = lo + max(abs(float(lo)) * 1e-3, 1e-6)
    return float(lo), float(hi)
