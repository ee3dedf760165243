"""What a built scene is made of: objects ready to stream, described by plain data.

A :class:`BuiltScene` is what scene building produces and what the cache manifest stores: each
object names its GLB assets by content hash and, for time series, where its steps come from and the
table that maps GLB vertices to the series' points. Everything here round-trips through JSON
(``to_json`` / ``from_json``), so a second start rebuilds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from vizserver.errors import VizServerError


class ManifestError(VizServerError):
    """A cache manifest is unreadable or from another layout: the scene is rebuilt."""


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """One field of an object. ``streamed``: its values change per time step and travel as frames.

    ``range`` is over every time step (``None`` when no value is finite); ``color_range`` is the
    range the client colours with (the scene file's ``range``, else ``range``).
    """

    id: int
    name: str
    unit: str
    components: int
    range: tuple[float, float] | None
    color_range: tuple[float, float] | None
    colormap: str
    categorical: bool
    streamed: bool


@dataclass(frozen=True, slots=True)
class SeriesSource:
    """Where a time-series object's steps are read from when they are streamed.

    ``path`` is read with :func:`vizserver.io.read`; ``index`` picks the object of the scene it
    returns; ``point_ids`` is the cache hash of a uint32 table: GLB vertex ``i`` shows series point
    ``table[i]`` (the surface's source ids in the encoder's vertex order). ``point_cloud``: the
    surface has no triangles (cell fields then have nowhere to go).
    """

    path: str
    index: int
    point_ids: str
    point_cloud: bool


@dataclass(frozen=True, slots=True)
class StreamObject:
    """One object of a session's scene. ``asset`` and ``lods`` (coarsest first) are sha256 hashes.

    ``lod_triangles`` are the levels' triangle counts, in the order of ``lods``.
    """

    id: int
    name: str
    asset: str
    lods: tuple[str, ...]
    vertices: int
    triangles: int
    visible: bool
    color: str
    opacity: float
    transform: tuple[float, ...]
    fields: tuple[FieldDescription, ...]
    active_field: int | None
    times: tuple[float, ...] | None
    time_unit: str
    series: SeriesSource | None
    lod_triangles: tuple[int, ...] = ()

    @property
    def hashes(self) -> tuple[str, ...]:
        """Every cache entry this object needs."""
        table = (self.series.point_ids,) if self.series else ()
        return (self.asset, *self.lods, *table)

    def field(self, field_id: int) -> FieldDescription | None:
        for f in self.fields:
            if f.id == field_id:
                return f
        return None

    def with_id(self, object_id: int) -> StreamObject:
        return replace(self, id=object_id)


@dataclass(frozen=True, slots=True)
class BuiltScene:
    title: str
    objects: tuple[StreamObject, ...]


def scene_to_json(scene: BuiltScene) -> dict[str, Any]:
    return {"title": scene.title, "objects": [object_to_json(o) for o in scene.objects]}


def object_to_json(obj: StreamObject) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name,
        "asset": obj.asset,
        "lods": list(obj.lods),
        "lod_triangles": list(obj.lod_triangles),
        "vertices": obj.vertices,
        "triangles": obj.triangles,
        "visible": obj.visible,
        "color": obj.color,
        "opacity": obj.opacity,
        "transform": list(obj.transform),
        "fields": [
            {
                "id": f.id,
                "name": f.name,
                "unit": f.unit,
                "components": f.components,
                "range": None if f.range is None else list(f.range),
                "color_range": None if f.color_range is None else list(f.color_range),
                "colormap": f.colormap,
                "categorical": f.categorical,
                "streamed": f.streamed,
            }
            for f in obj.fields
        ],
        "active_field": obj.active_field,
        "times": None if obj.times is None else list(obj.times),
        "time_unit": obj.time_unit,
        "series": None
        if obj.series is None
        else {
            "path": obj.series.path,
            "index": obj.series.index,
            "point_ids": obj.series.point_ids,
            "point_cloud": obj.series.point_cloud,
        },
    }


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def scene_from_json(data: Any) -> BuiltScene:
    """Raises :class:`ManifestError` on anything that is not what :func:`scene_to_json` wrote."""
    try:
        return BuiltScene(str(data["title"]), tuple(object_from_json(o) for o in data["objects"]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ManifestError(f"manifest does not describe a scene ({exc!r})") from exc


def object_from_json(o: Any) -> StreamObject:
    series = o["series"]
    return StreamObject(
        id=int(o["id"]),
        name=str(o["name"]),
        asset=str(o["asset"]),
        lods=tuple(str(h) for h in o["lods"]),
        lod_triangles=tuple(int(n) for n in o["lod_triangles"]),
        vertices=int(o["vertices"]),
        triangles=int(o["triangles"]),
        visible=bool(o["visible"]),
        color=str(o["color"]),
        opacity=float(o["opacity"]),
        transform=tuple(float(x) for x in o["transform"]),
        fields=tuple(
            FieldDescription(
                id=int(f["id"]),
                name=str(f["name"]),
                unit=str(f["unit"]),
                components=int(f["components"]),
                range=_pair(f["range"]),
                color_range=_pair(f["color_range"]),
                colormap=str(f["colormap"]),
                categorical=bool(f["categorical"]),
                streamed=bool(f["streamed"]),
            )
            for f in o["fields"]
        ),
        active_field=None if o["active_field"] is None else int(o["active_field"]),
        times=None if o["times"] is None else tuple(float(t) for t in o["times"]),
        time_unit=str(o["time_unit"]),
        series=None
        if series is None
        else SeriesSource(
            str(series["path"]), int(series["index"]), str(series["point_ids"]), bool(series["point_cloud"])
        ),
    )
