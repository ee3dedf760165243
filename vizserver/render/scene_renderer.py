"""Offscreen VTK drawing of a session's scene: objects from their GLBs, fields coloured as in the browser,
annotation pins and strokes, CT/MR volumes, from the video viewer's camera.

At :attr:`Detail.INTERACTIVE` (the camera is moving) a surface with coarser levels of detail is drawn from the
level ``render/detail.py`` picks; the level's ``_FULL_VERTEX`` map gathers the full asset's field frames onto its
vertices, so one frame colours every level alike.

**One thread only.** An OpenGL context belongs to the thread that made it: create, use and close a
:class:`SceneRenderer` in the same thread (``render/worker.py`` does). The window is EGL offscreen (Mesa's
software driver where there is no GPU) without multisampling: anti-aliasing cost 3-4x the frame time here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkDataArray, vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPiecewiseFunction, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingOpenGL2 import vtkEGLRenderWindow
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from vizserver.errors import UnreadableFileError
from vizserver.io.glb_decode import read_glb_file
from vizserver.model.volume import Volume
from vizserver.protocol.frames import DecodedFrame
from vizserver.render.camera import DEFAULT_FOV_DEG, ViewCamera
from vizserver.render.colormaps import hex_rgb
from vizserver.render.detail import INTERACTIVE_TRIANGLES, Detail, interactive_levels
from vizserver.render.field_colors import FieldStyle, field_style, vertex_colors
from vizserver.render.volumes import opacity_range, voxel_matrix
from vizserver.scenes.objects import StreamObject
from vizserver.sessions.annotations import Pin, Stroke

log = logging.getLogger("vizserver.render")

BACKGROUND = "16181d"
"""The browser viewer's clear colour (Viewer.js BACKGROUND)."""
PIN_RADIUS_FRACTION = 0.012
"""A pin's sphere radius as a fraction of the scene's bounding diagonal."""
STROKE_WIDTH_PX = 3.0
FIRST_VIEW_DIRECTION = (0.35, -1.0, 0.35)
"""Where the browser's first view looks from, seen from the target (Viewer.js VIEW_DIRECTION), z up."""
FIT_MARGIN = 1.1

Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ObjectGeometry:
    """An object's asset in its own coordinates (GLB node transforms applied): ``indices`` ``(m, 3)``, empty for
    a point cloud; ``fields`` by name, as written in the GLB (the first time step of a series); ``full_vertex``
    (a coarser level of detail only) the full asset's vertex each vertex shows, else None."""

    positions: npt.NDArray[np.float32]
    normals: npt.NDArray[np.float32] | None
    indices: npt.NDArray[np.uint32]
    fields: Mapping[str, npt.NDArray[np.float32]]
    full_vertex: npt.NDArray[np.int64] | None = None

    @property
    def triangles(self) -> int:
        return int(self.indices.shape[0]) if self.indices.ndim == 2 and self.indices.shape[1] == 3 else 0


def load_geometry(path: Path) -> ObjectGeometry:
    """Read an object's GLB; several primitives are joined in node order (the order field frames index)."""
    glb = read_glb_file(path)
    meshes = list(glb.meshes.values())
    if not meshes:
        raise UnreadableFileError(f"{path.name}: no meshes")
    offsets = np.cumsum([0] + [m.positions.shape[0] for m in meshes])
    positions = np.concatenate([m.positions for m in meshes]).astype(np.float32)
    indices = np.concatenate(
        [m.indices.astype(np.uint32) + np.uint32(o) for m, o in zip(meshes, offsets, strict=False)]
    )
    normals = None
    if all(m.normals is not None for m in meshes):
        normals = np.concatenate([m.normals for m in meshes if m.normals is not None]).astype(np.float32)
    maps = [m.extras.get("full_vertex", {}).get("attribute") for m in meshes]
    names = set.intersection(*(set(m.fields) for m in meshes)) - set(maps)
    fields = {n: np.concatenate([m.fields[n] for m in meshes]) for n in names}
    full_vertex = None
    if all(isinstance(a, str) and a in m.fields for a, m in zip(maps, meshes, strict=True)):
        # (low, high) unsigned shorts per vertex; they index the full asset's joined vertices already
        pairs = np.concatenate([m.fields[str(a)].reshape(-1, 2) for a, m in zip(maps, meshes, strict=True)])
        full_vertex = pairs[:, 0].astype(np.int64) + 65536 * pairs[:, 1].astype(np.int64)
    return ObjectGeometry(positions, normals, indices, fields, full_vertex)


@dataclass(frozen=True, slots=True)
class SceneState:
    """What to draw, captured on the event loop from the session (immutable parts and copies only).

    ``shown_fields``: the field each object is coloured by (the viewer's subscriptions), ``None`` plain;
    ``frames``: the newest decoded frame per (object, field).
    """

    objects: tuple[StreamObject, ...]
    shown_fields: Mapping[int, int | None]
    frames: Mapping[Key, DecodedFrame]
    pins: tuple[Pin, ...] = ()
    strokes: tuple[Stroke, ...] = ()


@dataclass(slots=True)
class _Drawn:
    """One asset's VTK parts (an object's full asset or one of its levels) and what its colours were made from
    (to skip unchanged work)."""

    geometry: ObjectGeometry
    polydata: vtkPolyData
    actor: vtkActor
    coloured_by: object = None
    volume: vtkVolume | None = None
    extra: list[object] = field(default_factory=list)


def numpy_to_vtk(values: npt.NDArray[Any], deep: bool = True, array_type: int | None = None) -> vtkDataArray:
    """numpy_support's converter, typed (the module has no annotations)."""
    return cast(vtkDataArray, numpy_support.numpy_to_vtk(values, deep=deep, array_type=array_type))  # type: ignore[no-untyped-call]


def _matrix(transform: tuple[float, ...]) -> vtkMatrix4x4:
    """glTF's column-major 16 numbers as a VTK matrix."""
    m = vtkMatrix4x4()
    values = np.asarray(transform, dtype=np.float64).reshape(4, 4, order="F")
    for i in range(4):
        for j in range(4):
            m.SetElement(i, j, float(values[i, j]))
    return m


def _polydata(positions: npt.NDArray[np.float32], indices: npt.NDArray[np.uint32]) -> vtkPolyData:
    poly = vtkPolyData()
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(positions, dtype=np.float32), deep=True))
    poly.SetPoints(points)
    cells = vtkCellArray()
    if indices.size:
        width = indices.shape[1]
        offsets = np.arange(0, indices.size + 1, width, dtype=np.int64)
        cells.SetData(numpy_to_vtk(offsets, deep=True), numpy_to_vtk(indices.astype(np.int64).ravel(), deep=True))
        if width == 2:
            poly.SetLines(cells)
        else:
            poly.SetPolys(cells)
    else:
        n = positions.shape[0]
        ids = np.arange(n + 1, dtype=np.int64)
        cells.SetData(numpy_to_vtk(ids, deep=True), numpy_to_vtk(ids[:-1].copy(), deep=True))
        poly.SetVerts(cells)
    return poly


def _rgb(color: str) -> tuple[float, float, float]:
    r, g, b = (int(c) / 255.0 for c in hex_rgb([color])[0])
    return (r, g, b)


def _uchar_colors(colors: npt.NDArray[np.uint8]) -> vtkUnsignedCharArray:
    array = numpy_to_vtk(np.ascontiguousarray(colors, dtype=np.uint8), deep=True, array_type=3)  # VTK_UNSIGNED_CHAR
    array.SetName("colors")
    return cast(vtkUnsignedCharArray, array)


def _sphere_template(segments: int = 10, rings: int = 6) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint32]]:
    """A unit UV sphere: points and triangles (poles repeated per segment; fine at pin size)."""
    theta = np.linspace(0.0, np.pi, rings + 1)
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    points = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    r = np.arange(rings)[:, None]
    s = np.arange(segments)[None, :]
    a = r * segments + s
    b = r * segments + (s + 1) % segments
    c, d = a + segments, b + segments
    tris = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return points.astype(np.float32), tris.astype(np.uint32)


_SPHERE = _sphere_template()


class SceneRenderer:
    """Draws :class:`SceneState` s; see the module docstring for the one-thread rule.

    ``asset_path`` maps an asset hash to its GLB file (``AssetStore.glb_path``); ``volumes`` maps object names
    to the intensity volumes drawn instead of their surfaces; ``interactive_triangles`` is the budget of
    interactive renders (``render/detail.py``).
    """

    def __init__(
        self,
        asset_path: Callable[[str], Path | None],
        volumes: Mapping[str, Volume] | None = None,
        width: int = 1280,
        height: int = 720,
        interactive_triangles: int = INTERACTIVE_TRIANGLES,
    ) -> None:
        self._asset_path = asset_path
        self._volumes = dict(volumes or {})
        self._interactive_triangles = interactive_triangles
        self._renderer = vtkRenderer()
        self._renderer.SetBackground(*_rgb(BACKGROUND))
        self._renderer.SetUseDepthPeeling(False)
        self._window = self._make_window()
        self._window.SetOffScreenRendering(1)
        self._window.SetMultiSamples(0)
        self._window.AddRenderer(self._renderer)
        self._window.SetSize(width, height)
        self._drawn: dict[str, _Drawn] = {}  # by asset hash: an asset is loaded once whatever its object id
        self._unusable_levels: set[str] = set()  # level hashes that cannot be drawn (logged once; drawn full)
        self._shown_triangles = 0
        self.triangles_drawn = 0
        """Triangles of the surfaces the last :meth:`render` drew (pins and strokes not counted)."""
        self.detail_drawn = Detail.FULL
        """The detail of the last :meth:`render`."""
        self.load_s = 0.0
        """Seconds the last :meth:`update` spent reading assets and levels for the first time (a one-off)."""
        self._detail = Detail.FULL
        self._annotations: tuple[tuple[Pin, ...], tuple[Stroke, ...]] | None = None
        self._annotation_actors: list[vtkActor] = []
        self._styles: dict[str, FieldStyle | None] = {}
        self._styled_objects: tuple[StreamObject, ...] | None = None
        self._diagonal = 1.0
        self._pixels = vtkUnsignedCharArray()
        self._closed = False

    @staticmethod
    def _make_window() -> vtkRenderWindow:
        window = vtkEGLRenderWindow() if os.environ.get("VTK_DEFAULT_OPENGL_WINDOW") == "vtkEGLRenderWindow" else None
        return window if window is not None else vtkRenderWindow()

    # --- what to show ---

    def update(self, state: SceneState, detail: Detail = Detail.FULL) -> None:
        """Bring the VTK scene up to ``state`` at ``detail`` (loads new assets and levels; recolours only what
        changed)."""
        if state.objects is not self._styled_objects:
            self._styles.clear()
            self._styled_objects = state.objects
        levels = self._levels(state.objects, detail)
        self.load_s = 0.0
        seen: set[str] = set()
        triangles = 0
        for obj in state.objects:
            seen.update((obj.asset, *obj.lods))
            drawn = self._drawn.get(obj.asset)
            if drawn is None:
                drawn = self._load(obj, obj.asset)
                if drawn is None:
                    continue
            matrix = _matrix(obj.transform)
            drawn.actor.SetUserMatrix(matrix)
            shown = drawn if drawn.volume is not None else self._level(obj, levels.get(obj.id), drawn)
            for digest in (obj.asset, *obj.lods):
                level = self._drawn.get(digest)
                if level is not None:
                    level.actor.SetVisibility(obj.visible and level is shown and drawn.volume is None)
            if drawn.volume is not None:
                drawn.volume.SetVisibility(obj.visible)
                continue
            shown.actor.SetUserMatrix(matrix)
            if obj.visible:
                self._colour(obj, shown, state, drawn.geometry.positions.shape[0])
                triangles += shown.geometry.triangles
        for asset in [a for a in self._drawn if a not in seen]:
            self._remove(self._drawn.pop(asset))
        self._update_annotations(state)
        self._shown_triangles = triangles
        self._detail = detail

    def _levels(self, objects: tuple[StreamObject, ...], detail: Detail) -> dict[int, int]:
        """Object id to the index in its ``lods`` to draw (objects absent: full)."""
        if detail is Detail.FULL:
            return {}
        surfaces = [o for o in objects if o.visible and o.name not in self._volumes]
        counts = [(o.triangles, o.lod_triangles if len(o.lod_triangles) == len(o.lods) else ()) for o in surfaces]
        chosen = interactive_levels(counts, self._interactive_triangles)
        return {o.id: index for o, index in zip(surfaces, chosen, strict=True) if index is not None}

    def _level(self, obj: StreamObject, index: int | None, full: _Drawn) -> _Drawn:
        """The level ``index`` of ``obj`` (loaded on first use), or ``full`` when none or it cannot be drawn."""
        if index is None:
            return full
        digest = obj.lods[index]
        if digest in self._unusable_levels:
            return full
        level = self._drawn.get(digest)
        if level is not None:
            return level
        level = self._load(obj, digest)
        if level is None:
            return full
        vertices = full.geometry.positions.shape[0]
        ids = level.geometry.full_vertex
        if ids is None or ids.shape[0] != level.geometry.positions.shape[0] or (ids.size and ids.max() >= vertices):
            log.warning("%s: level of detail %s has no usable map to the full asset's %d vertices; drawn in full",
                        obj.name, digest[:12], vertices)
            self._unusable_levels.add(digest)
            self._remove(self._drawn.pop(digest))
            return full
        return level

    def _load(self, obj: StreamObject, digest: str) -> _Drawn | None:
        """``digest``: ``obj``'s asset, or one of its levels of detail (no volume, scene bounds unchanged)."""
        path = self._asset_path(digest)
        if path is None:
            return None
        started = time.monotonic()
        try:
            return self._make_drawn(obj, digest, load_geometry(path))
        finally:
            self.load_s += time.monotonic() - started

    def _make_drawn(self, obj: StreamObject, digest: str, geometry: ObjectGeometry) -> _Drawn:
        poly = _polydata(geometry.positions, geometry.indices)
        if geometry.normals is not None and geometry.normals.shape == geometry.positions.shape:
            normals = numpy_to_vtk(np.ascontiguousarray(geometry.normals, dtype=np.float32), deep=True)
            normals.SetName("Normals")
            poly.GetPointData().SetNormals(normals)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.SetColorModeToDirectScalars()
        mapper.SetScalarModeToUsePointData()
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetAmbient(0.2)
        prop.SetDiffuse(0.85)
        prop.SetSpecular(0.08)
        prop.SetSpecularPower(20.0)
        if geometry.indices.size == 0:
            prop.SetPointSize(2.0)
        self._renderer.AddActor(actor)
        drawn = _Drawn(geometry, poly, actor)
        self._drawn[digest] = drawn
        if digest != obj.asset:
            actor.SetVisibility(False)
            return drawn
        volume = self._volumes.get(obj.name)
        if volume is not None:
            drawn.volume = self._volume_prop(volume, obj)
        bounds = np.asarray(self._renderer.ComputeVisiblePropBounds(), dtype=np.float64)
        if np.all(np.isfinite(bounds)) and bounds[1] >= bounds[0]:
            self._diagonal = float(np.linalg.norm(bounds[1::2] - bounds[0::2])) or 1.0
        return drawn

    def _volume_prop(self, volume: Volume, obj: StreamObject) -> vtkVolume:
        values = np.asarray(volume.values, dtype=np.float32)
        image = vtkImageData()
        image.SetDimensions(*volume.shape)
        image.SetSpacing(*volume.spacing)
        image.GetPointData().SetScalars(numpy_to_vtk(values.ravel(order="F"), deep=True))
        lo, hi = opacity_range(values)
        opacity = vtkPiecewiseFunction()
        opacity.AddPoint(lo, 0.0)
        opacity.AddPoint(hi, 0.85)
        colors = vtkColorTransferFunction()
        colors.AddRGBPoint(lo, 0.45, 0.12, 0.08)
        colors.AddRGBPoint(lo + 0.5 * (hi - lo), 0.92, 0.62, 0.48)
        colors.AddRGBPoint(hi, 1.0, 0.98, 0.94)
        prop = vtkVolumeProperty()
        prop.SetScalarOpacity(opacity)
        prop.SetColor(colors)
        prop.SetInterpolationTypeToLinear()
        prop.ShadeOn()
        prop.SetScalarOpacityUnitDistance(float(min(volume.spacing)) * 2.0)
        mapper = vtkSmartVolumeMapper()
        mapper.SetInputData(image)
        actor = vtkVolume()
        actor.SetMapper(mapper)
        actor.SetProperty(prop)
        placed = np.asarray(obj.transform, dtype=np.float64).reshape(4, 4, order="F") @ voxel_matrix(volume)
        actor.SetUserMatrix(_matrix(tuple(placed.flatten(order="F"))))
        self._renderer.AddVolume(actor)
        return actor

    def _remove(self, drawn: _Drawn) -> None:
        self._renderer.RemoveActor(drawn.actor)
        if drawn.volume is not None:
            self._renderer.RemoveVolume(drawn.volume)

    def _style(self, objects: tuple[StreamObject, ...], name: str) -> FieldStyle | None:
        if name not in self._styles:
            self._styles[name] = field_style(objects, name)
        return self._styles[name]

    def _colour(self, obj: StreamObject, drawn: _Drawn, state: SceneState, full_vertices: int) -> None:
        """Colour ``drawn`` (``obj``'s full asset, or a level of it); frames are in the full asset's
        ``full_vertices`` order, gathered through a level's map. A level's own GLB fields were written the same
        way (the full asset's values at its mapped vertices)."""
        field_id = state.shown_fields.get(obj.id, obj.active_field)
        desc = obj.field(field_id) if field_id is not None else None
        values: npt.NDArray[np.float32] | None = None
        source: object = None
        if desc is not None:
            frame = state.frames.get((obj.id, desc.id))
            if frame is not None:
                values, source = frame.values, frame
                ids = drawn.geometry.full_vertex
                if ids is not None and values.shape[0] == full_vertices:
                    values = values[ids]
            else:
                values, source = drawn.geometry.fields.get(desc.name), ("glb", desc.name)
        n = drawn.geometry.positions.shape[0]
        style = self._style(state.objects, desc.name) if desc is not None else None
        if values is None or style is None or values.shape[0] != n:
            source = None
        key = (source, style)
        if key == drawn.coloured_by:
            return
        drawn.coloured_by = key
        mapper = drawn.actor.GetMapper()
        if source is None or values is None or style is None:
            mapper.ScalarVisibilityOff()
            drawn.actor.GetProperty().SetColor(*_rgb(obj.color))
            drawn.actor.GetProperty().SetOpacity(obj.opacity)
            return
        drawn.polydata.GetPointData().SetScalars(_uchar_colors(vertex_colors(values, style)))
        drawn.polydata.Modified()
        drawn.actor.GetProperty().SetOpacity(obj.opacity)
        mapper.ScalarVisibilityOn()

    def _update_annotations(self, state: SceneState) -> None:
        current = (state.pins, state.strokes)
        if self._annotations == current:
            return
        self._annotations = current
        for actor in self._annotation_actors:
            self._renderer.RemoveActor(actor)
        self._annotation_actors = []
        transforms = {o.id: np.asarray(o.transform, dtype=np.float64).reshape(4, 4, order="F") for o in state.objects}
        visible = {o.id for o in state.objects if o.visible}
        pins = [p for p in state.pins if p.object in visible]
        if pins:
            centres = np.array([(transforms[p.object] @ np.array([*p.point, 1.0]))[:3] for p in pins])
            self._annotation_actors.append(self._pin_actor(centres, [p.color for p in pins]))
        if state.strokes:
            self._annotation_actors.append(self._stroke_actor(state.strokes))
        for actor in self._annotation_actors:
            self._renderer.AddActor(actor)

    def _pin_actor(self, centres: npt.NDArray[np.float64], colors: list[str]) -> vtkActor:
        template, tris = _SPHERE
        radius = PIN_RADIUS_FRACTION * self._diagonal
        points = (centres[:, None, :] + radius * template[None, :, :]).reshape(-1, 3).astype(np.float32)
        starts = np.arange(len(centres), dtype=np.uint32) * np.uint32(len(template))
        faces = (tris[None, :, :] + starts[:, None, None]).reshape(-1, 3)
        poly = _polydata(points, faces)
        poly.GetPointData().SetScalars(_uchar_colors(np.repeat(hex_rgb(colors), len(template), axis=0)))
        return self._scalar_actor(poly)

    def _stroke_actor(self, strokes: tuple[Stroke, ...]) -> vtkActor:
        points = np.concatenate([np.asarray(s.points, dtype=np.float32) for s in strokes])
        starts = np.cumsum([0] + [len(s.points) for s in strokes])[:-1]
        segments = np.concatenate(
            [np.stack([np.arange(a, a + len(s.points) - 1), np.arange(a + 1, a + len(s.points))], -1)
             for a, s in zip(starts, strokes, strict=True)]
        ).astype(np.uint32)
        poly = _polydata(points, segments)
        poly.GetPointData().SetScalars(
            _uchar_colors(np.repeat(hex_rgb([s.color for s in strokes]), [len(s.points) for s in strokes], axis=0))
        )
        actor = self._scalar_actor(poly)
        actor.GetProperty().SetLineWidth(STROKE_WIDTH_PX)
        actor.GetProperty().LightingOff()
        return actor

    @staticmethod
    def _scalar_actor(poly: vtkPolyData) -> vtkActor:
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()
        actor = vtkActor()
        actor.SetMapper(mapper)
        return actor

    # --- drawing ---

    def fit_camera(self, fov: float = DEFAULT_FOV_DEG) -> ViewCamera:
        """A camera that shows every visible object whole, from the front and a little above (z up)."""
        bounds = np.asarray(self._renderer.ComputeVisiblePropBounds(), dtype=np.float64)
        if not (np.all(np.isfinite(bounds)) and bounds[1] >= bounds[0]):
            bounds = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0])
        low, high = bounds[0::2], bounds[1::2]
        centre = (low + high) / 2.0
        radius = max(float(np.linalg.norm(high - low)) / 2.0, 1e-6)
        direction = np.asarray(FIRST_VIEW_DIRECTION, dtype=np.float64)
        direction /= np.linalg.norm(direction)
        distance = FIT_MARGIN * radius / np.sin(np.radians(fov) / 2.0)
        eye = centre + direction * distance
        return ViewCamera(position=tuple(eye), target=tuple(centre), up=(0.0, 0.0, 1.0), fov=fov)

    def render(self, camera: ViewCamera, width: int, height: int) -> npt.NDArray[np.uint8]:
        """An ``(height, width, 3)`` RGB image, top row first."""
        if self._closed:
            raise RuntimeError("renderer is closed")
        if self._window.GetSize() != (width, height):
            self._window.SetSize(width, height)
        cam = self._renderer.GetActiveCamera()
        cam.SetPosition(*camera.position)
        cam.SetFocalPoint(*camera.target)
        cam.SetViewUp(*camera.up)
        cam.SetViewAngle(camera.fov)
        self._renderer.ResetCameraClippingRange()
        self._window.Render()
        self.triangles_drawn, self.detail_drawn = self._shown_triangles, self._detail
        self._window.GetPixelData(0, 0, width - 1, height - 1, 0, self._pixels, 0)
        pixels = numpy_support.vtk_to_numpy(self._pixels)  # type: ignore[no-untyped-call]
        image = np.asarray(pixels, dtype=np.uint8).reshape(height, width, 3)
        return np.ascontiguousarray(image[::-1])

    def close(self) -> None:
        """Free the GL context and the scene (same thread as every other call)."""
        if self._closed:
            return
        self._closed = True
        self._renderer.RemoveAllViewProps()
        self._drawn.clear()
        self._window.Finalize()
