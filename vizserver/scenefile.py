"""Scene files (``scenes/*.yaml``): the validated description of what a session shows.

The schema is documented in ``docs/scene-format.md``; pydantic gives each mistake a message that
names the file and the key. Scene files are written by whoever runs the server, not by clients;
sources are still resolved relative to the file and checked to exist, and assets must be fetched
already (they are looked up in the asset cache, never downloaded here).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, field_validator, model_validator

from vizserver.anatomy import catalog
from vizserver.errors import AssetError, InputError

MAX_SCENE_FILE_BYTES = 1 << 20
"""A scene file is a description, not data: 1 MiB is plenty."""

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class SceneFileError(InputError):
    """A scene file is missing, malformed or refers to something that is not there."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransformSpec(_Strict):
    translate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotate_deg: tuple[float, float, float] = Field(default=(0.0, 0.0, 0.0), description="XYZ Euler angles, degrees")
    scale: float = Field(default=1.0, gt=0, description="Uniform scale, e.g. 0.001 for mm -> m")


class MaterialSpec(_Strict):
    color: str = "#d98c80"
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)

    @field_validator("color")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _HEX_COLOR.match(value):
            raise ValueError(f"colour must look like #rrggbb, not {value!r}")
        return value


class GeneratorSpec(_Strict):
    name: Literal["lv_surface", "lv_tetra", "brain_surface"]
    parameters: dict[str, float | int] = Field(default_factory=dict)


class ObjectSpec(_Strict):
    name: str = Field(min_length=1, max_length=128)
    source: str | None = Field(default=None, description="File or folder, relative to the scene file")
    generator: GeneratorSpec | None = None
    asset: str | None = Field(default=None, description="A catalogued asset, fetched with `vizserver assets fetch`")
    transform: TransformSpec = TransformSpec()
    material: MaterialSpec = MaterialSpec()
    field: str | None = Field(default=None, description="Field coloured by default")
    colormap: str = "viridis"
    range: tuple[float, float] | None = Field(default=None, description="Colour range; default: the field's range")
    visible: bool = True
    reduction: float = Field(default=0.0, ge=0.0, lt=1.0)
    iso: float | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> ObjectSpec:
        if sum(origin is not None for origin in (self.source, self.generator, self.asset)) != 1:
            raise ValueError("give exactly one of 'source', 'generator' or 'asset'")
        return self


TWIN_KINDS = ("cardiac", "tumour", "replay", "remote")
_TWIN_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class TwinSpec(_Strict):
    kind: str = Field(description="cardiac, tumour, replay, remote (a twin-worker connects), or module:callable")
    object: str = Field(description="Name of the object the twin's fields are drawn on")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Initial values, checked by the twin's schema")
    options: dict[str, Any] = Field(default_factory=dict, description="How to build the twin (e.g. mesh resolution)")
    colormap: str = "viridis"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in TWIN_KINDS and not _TWIN_CALLABLE.match(value):
            raise ValueError(f"unknown twin kind {value!r}: use one of {', '.join(TWIN_KINDS)} or module:callable")
        return value


MAX_TOUR_STEPS = 100
MAX_TOUR_TITLE_CHARS = 120
MAX_TOUR_CAPTION_CHARS = 1000
"""A caption is read aloud or on a headset panel: a paragraph, not a page."""
MAX_TOUR_VIEWS = 64
MAX_TOUR_TWIN_VALUES = 64
"""As many as one ``twin_params`` message carries (docs/protocol.md)."""
MAX_TOUR_TWIN_STRING_CHARS = 64
MAX_TOUR_ACTIONS = 8
DEFAULT_CAMERA_UP = (0.0, 0.0, 1.0)
"""Scene content is z-up (the client's camera and XR placement assume it)."""

Vec3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]
TwinValue = bool | int | float | str


def _camera_problem(position: Vec3, target: Vec3, up: Vec3) -> str | None:
    direction = [t - p for p, t in zip(position, target, strict=True)]
    if math.hypot(*direction) == 0.0:
        return "camera position and target are the same point"
    cross = (
        direction[1] * up[2] - direction[2] * up[1],
        direction[2] * up[0] - direction[0] * up[2],
        direction[0] * up[1] - direction[1] * up[0],
    )
    if math.hypot(*cross) <= 1e-9 * math.hypot(*direction) * math.hypot(*up):
        return "camera up is zero or along the line of sight"
    return None


class ViewSpec(_Strict):
    """A camera in scene content coordinates (metres after each object's transform, z up)."""

    position: Vec3
    target: Vec3 = (0.0, 0.0, 0.0)
    up: Vec3 = DEFAULT_CAMERA_UP

    @model_validator(mode="after")
    def _usable(self) -> ViewSpec:
        problem = _camera_problem(self.position, self.target, self.up)
        if problem:
            raise ValueError(problem)
        return self


class CameraSpec(_Strict):
    """A step's camera: explicit (``position``, ``target``, ``up``) or one of the tour's named ``views``."""

    position: Vec3 | None = None
    target: Vec3 = (0.0, 0.0, 0.0)
    up: Vec3 = DEFAULT_CAMERA_UP
    view: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_kind(self) -> CameraSpec:
        if self.view is not None:
            if self.model_fields_set & {"position", "target", "up"}:
                raise ValueError("give either 'view' or 'position'/'target'/'up', not both")
            return self
        if self.position is None:
            raise ValueError("give 'position' (with optional 'target' and 'up') or 'view'")
        problem = _camera_problem(self.position, self.target, self.up)
        if problem:
            raise ValueError(problem)
        return self


class ClipSpec(_Strict):
    """An axis-aligned clipping plane, as the client's clipping control sets it."""

    axis: Literal["x", "y", "z"]
    position: float = Field(default=0.5, ge=0.0, le=1.0, description="Fraction of the scene's bounds along the axis")
    flip: bool = Field(default=False, description="Keep the other side")


class TwinActionSpec(_Strict):
    action: str = Field(min_length=1, max_length=64, description="One of the twin's actions, e.g. 'pace here'")
    point: Vec3 | None = Field(default=None, description="In the twin object's own coordinates (before transform)")


class TourStepSpec(_Strict):
    title: str = Field(min_length=1, max_length=MAX_TOUR_TITLE_CHARS)
    text: str = Field(default="", max_length=MAX_TOUR_CAPTION_CHARS, description="Caption shown to everyone")
    camera: CameraSpec | None = None
    visible: list[str] | None = Field(default=None, description="Object names shown; None: all")
    clip: ClipSpec | None = Field(default=None, description="None: no clipping")
    time: FiniteFloat | None = Field(default=None, description="Simulation time to show (the series' unit)")
    time_step: int | None = Field(default=None, ge=0, description="Time-step index to show")
    playing: bool | None = None
    twin: dict[str, Any] | None = Field(default=None, description="Twin parameters to set (plain values)")
    actions: list[TwinActionSpec] = Field(default_factory=list, max_length=MAX_TOUR_ACTIONS)

    @field_validator("twin")
    @classmethod
    def _plain_values(cls, values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None:
            return None
        if len(values) > MAX_TOUR_TWIN_VALUES:
            raise ValueError(f"{len(values)} twin parameters (at most {MAX_TOUR_TWIN_VALUES})")
        for name, value in values.items():
            problem = _twin_value_problem(value)
            if problem:
                raise ValueError(f"twin parameter {name!r} {problem}")
        return values

    @model_validator(mode="after")
    def _one_time(self) -> TourStepSpec:
        if self.time is not None and self.time_step is not None:
            raise ValueError("give 'time' or 'time_step', not both")
        return self


def _twin_value_problem(value: object) -> str | None:
    if isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be finite, not {value}"
    if isinstance(value, str):
        return None if len(value) <= MAX_TOUR_TWIN_STRING_CHARS else f"is over {MAX_TOUR_TWIN_STRING_CHARS} characters"
    return f"must be a number, true/false or a string, not {type(value).__name__ if value is not None else 'null'}"


class TourSpec(_Strict):
    title: str = Field(default="", max_length=MAX_TOUR_TITLE_CHARS)
    views: dict[str, ViewSpec] = Field(default_factory=dict, max_length=MAX_TOUR_VIEWS)
    steps: list[TourStepSpec] = Field(min_length=1, max_length=MAX_TOUR_STEPS)

    def problems(self, object_names: list[str], has_twin: bool) -> list[str]:
        """What the steps name that the scene does not have (objects, views, a twin)."""
        found = []
        for number, step in enumerate(self.steps, start=1):
            where = f"tour step {number} ({step.title!r})"
            unknown = sorted(set(step.visible or []) - set(object_names))
            if unknown:
                found.append(f"{where} shows unknown objects {unknown}; objects: {', '.join(object_names)}")
            if step.camera and step.camera.view is not None and step.camera.view not in self.views:
                known = ", ".join(self.views) or "(none: add them under tour.views)"
                found.append(f"{where} uses unknown view {step.camera.view!r}; views: {known}")
            if (step.twin or step.actions) and not has_twin:
                found.append(f"{where} sets twin parameters or actions but the scene has no twin")
        return found


class SceneSpec(_Strict):
    version: Literal[1] = 1
    title: str = Field(min_length=1)
    description: str = ""
    objects: list[ObjectSpec] = Field(min_length=1)
    twin: TwinSpec | None = None
    tour: TourSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> SceneSpec:
        names = [o.name for o in self.objects]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"object names must be unique; repeated: {', '.join(duplicates)}")
        if self.twin and self.twin.object not in names:
            raise ValueError(f"twin.object {self.twin.object!r} is not one of the objects {names}")
        problems = self.tour.problems(names, self.twin is not None) if self.tour else []
        if problems:
            raise ValueError(problems[0])
        return self


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_scene_file(path: Path) -> SceneSpec:
    """Parse and validate a scene file; object sources must exist relative to it."""
    if not path.is_file():
        raise SceneFileError(f"{path.name}: no such scene file")
    if path.stat().st_size > MAX_SCENE_FILE_BYTES:
        raise SceneFileError(f"{path.name}: scene file is over {MAX_SCENE_FILE_BYTES:,} bytes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SceneFileError(f"{path.name}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, dict):
        raise SceneFileError(f"{path.name}: expected a mapping with 'title' and 'objects'")
    try:
        spec = SceneSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SceneFileError(f"{path.name}: {_location(first['loc'])}: {first['msg']}") from exc
    for obj in spec.objects:
        if obj.source is not None and not _source_exists(resolve_source(path, obj.source)):
            raise SceneFileError(f"{path.name}: objects.{obj.name}.source {obj.source!r} does not exist")
        if obj.asset is not None:
            fetched_asset(obj.name, obj.asset, path.name)
    return spec


def _source_exists(source: Path) -> bool:
    """A file or folder, or a numbered-series pattern (``out_*.vtu``) that matches something."""
    if "*" in source.name:
        return any(source.parent.glob(source.name))
    return source.exists()


def resolve_source(scene_path: Path, source: str) -> Path:
    """An object's source path, relative to its scene file's folder."""
    return (scene_path.parent / source).resolve()


def object_path(scene_path: Path, spec: ObjectSpec) -> Path | None:
    """The file an object is read from: its source, or its asset's primary file; ``None`` for a generator."""
    if spec.source is not None:
        return resolve_source(scene_path, spec.source)
    if spec.asset is not None:
        return fetched_asset(spec.name, spec.asset, scene_path.name)
    return None


def fetched_asset(object_name: str, asset: str, scene_name: str) -> Path:
    """The local primary file of a catalogued asset; never downloads (``vizserver assets fetch`` does).

    An asset counts as fetched when each of its files is in the asset folder with the catalog's
    size (``fetch`` checked their sha256 before moving them there).
    """
    try:
        entries = {e.name: e for e in catalog.list_assets()}
    except AssetError as exc:
        raise SceneFileError(f"{scene_name}: object {object_name}: {exc}") from exc
    entry = entries.get(asset)
    if entry is None:
        raise SceneFileError(f"{scene_name}: object {object_name}: no asset {asset!r} in the catalog; "
                             f"known assets: {', '.join(entries) or '(none)'}")
    folder = catalog.asset_root() / asset
    if not all((folder / f.name).is_file() and (folder / f.name).stat().st_size == f.size for f in entry.files):
        raise SceneFileError(f"{scene_name}: object {object_name}: asset {asset} is not fetched; "
                             f"run `vizserver assets fetch {asset}`")
    return folder / entry.primary
