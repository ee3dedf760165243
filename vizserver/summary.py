"""What ``vizserver inspect`` reports about a scene: counts, fields with ranges, time, bounds, memory.

Only names and numbers: identifying header values never get here (readers drop them), and the
report lists which identifying fields were removed, not what they held.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from vizserver.model import Field, Mesh, Scene, SceneObject, TimeSeries, UnstructuredMesh, Volume


def _range(r: tuple[float, float]) -> list[float] | None:
    return None if math.isnan(r[0]) else [r[0], r[1]]


def _fields(fields: Mapping[str, Field]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "association": f.association,
            "components": f.components,
            "unit": f.unit,
            "range": _range(f.range),
        }
        for f in fields.values()
    ]


def _geometry(data: Mesh | UnstructuredMesh) -> dict[str, Any]:
    if isinstance(data, Mesh):
        kind = "point cloud" if data.is_point_cloud else "surface"
        cells = {} if data.is_point_cloud else {"triangle": data.n_triangles}
        return {
            "kind": kind,
            "points": data.n_points,
            "cells": data.n_triangles,
            "cell_types": cells,
            "fields": _fields(data.point_fields) + _fields(data.cell_fields),
            "bounds": [list(data.bounds[0]), list(data.bounds[1])],
        }
    counts: Counter[str] = Counter()
    for block in data.blocks:
        counts[block.kind] += len(block)
    return {
        "kind": "volume mesh" if any(k in counts for k in ("tetra", "hexahedron", "wedge", "pyramid")) else "mesh",
        "points": data.n_points,
        "cells": data.n_cells,
        "cell_types": dict(sorted(counts.items())),
        "fields": _fields(data.point_fields) + _fields(data.cell_fields),
        "bounds": [list(data.bounds[0]), list(data.bounds[1])],
    }


def describe_object(obj: SceneObject) -> dict[str, Any]:
    data = obj.data
    out: dict[str, Any] = {"name": obj.name}
    if isinstance(data, Volume):
        out |= {
            "kind": f"{data.kind} volume",
            "points": data.n_points,
            "cells": 0,
            "dimensions": list(data.shape),
            "spacing": list(data.spacing),
            "origin": list(data.origin),
            "dtype": str(data.values.dtype),
            "range": _range(data.range),
            "unit": data.unit,
            "bounds": [list(data.bounds[0]), list(data.bounds[1])],
            "fields": [],
        }
        if data.kind == "labels":
            out["labels"] = [int(v) for v in data.labels]
    elif isinstance(data, TimeSeries):
        out |= _geometry(data.geometry)
        out["kind"] = f"time series on {out['kind']}"
        if data.n_steps:
            out["fields"] = out["fields"] + _fields(data.steps[0])
        out["time_steps"] = {
            "count": data.n_steps,
            "first": float(data.times[0]) if data.n_steps else None,
            "last": float(data.times[-1]) if data.n_steps else None,
            "unit": data.time_unit,
        }
    else:
        out |= _geometry(data)
    out["memory_bytes"] = data.nbytes
    return out


def describe_scene(scene: Scene, *, source: str = "", format_name: str = "") -> dict[str, Any]:
    """A JSON-ready description of ``scene`` (what ``inspect --json`` prints)."""
    objects = [describe_object(o) for o in scene.objects]
    return {
        "source": source,
        "format": format_name,
        "title": scene.title,
        "objects": objects,
        "points": sum(o["points"] for o in objects),
        "cells": sum(o["cells"] for o in objects),
        "memory_bytes": sum(o["memory_bytes"] for o in objects),
        "removed_identifiers": list(scene.removed_identifiers),
    }
