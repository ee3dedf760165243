"""Imports every built-in reader module so that each registers its formats."""

from vizserver.io import (  # noqa: F401
    dicom,
    opencarp,
    pointcloud,
    series,
    surface,
    volume,
    vtk_legacy,
    vtk_xml,
    xdmf,
)
