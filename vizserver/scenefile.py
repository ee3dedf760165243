"""Scene files (``scenes/*.yaml``): the validated description of what a session shows.

The schema is documented in ``docs/scene-format.md``; pydantic gives each mistake a message that
names the file and the key. Scene files are written by whoever runs the server, not by clients;
sources are still resolved relative to the file and checked to exist, and assets must be fetched
already (they are looked up in the asset cache, never downloaded here).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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


class CameraSpec(_Strict):
    position: tuple[float, float, float]
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)


class TourStepSpec(_Strict):
    title: str
    text: str = ""
    camera: CameraSpec | None = None
    visible: list[str] | None = None
    time: float | None = None
    twin: dict[str, Any] | None = None


class TourSpec(_Strict):
    steps: list[TourStepSpec] = Field(min_length=1)


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
        for index, step in enumerate(self.tour.steps if self.tour else []):
            unknown = sorted(set(step.visible or []) - set(names))
            if unknown:
                raise ValueError(f"tour step {index + 1} shows unknown objects {unknown}")
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
