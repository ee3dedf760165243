"""Legacy VTK files (``.vtk``): polydata, unstructured, structured and rectilinear grids, structured points.

ASCII and BINARY alike. The header and every count a section line claims are checked against the
file size first (:func:`vizserver.io.vtk_header.check_legacy_header`); VTK's ``vtkDataSetReader``
then reads the file in an isolated child, with every scalar, vector, normal, tensor and field
array kept (VTK keeps only the first of each by default).
"""

from __future__ import annotations

from pathlib import Path

import pyvista as pv
from vtkmodules.vtkIOLegacy import vtkDataSetReader

from vizserver.io.registry import ReaderSpec, register
from vizserver.io.vtk_dataset import checked, object_data, run_reader
from vizserver.io.vtk_header import check_legacy_header
from vizserver.model import Scene, SceneObject

LEGACY_SIGNATURE = b"# vtk DataFile Version"


def read_legacy_dataset(path: Path) -> pv.DataSet:
    """One checked dataset from a legacy ``.vtk`` file."""
    check_legacy_header(path)
    reader = vtkDataSetReader()
    reader.ReadAllScalarsOn()
    reader.ReadAllVectorsOn()
    reader.ReadAllNormalsOn()
    reader.ReadAllTensorsOn()
    reader.ReadAllTCoordsOn()
    reader.ReadAllColorScalarsOn()
    reader.ReadAllFieldsOn()
    return checked(run_reader(reader, path), path)


def read_legacy(path: Path) -> Scene:
    """A legacy file as a scene of one object named after the file."""
    data = object_data(read_legacy_dataset(path), path)
    return Scene(path.stem, (SceneObject(path.stem, data),))


def sniff_legacy(head: bytes) -> bool:
    return head.startswith(LEGACY_SIGNATURE)


register(
    ReaderSpec(
        name="VTK legacy",
        suffixes=(".vtk",),
        read=read_legacy,
        sniff=sniff_legacy,
        isolated=True,
        description="legacy VTK (.vtk), ASCII or BINARY: polydata, unstructured/structured/rectilinear grids, images",
    )
)
