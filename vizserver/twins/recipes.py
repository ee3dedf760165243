"""How to build a twin, as data: a recipe travels to the worker process, which builds the twin from it.

Kinds: ``cardiac`` (the default LV, options as ``cardiac.build_lv_twin``; or, with option ``mesh``, the
tetrahedra of that file, as ``cardiac.build_mesh_twin``), ``tumour``, ``replay`` (a recorded series,
options as :meth:`vizserver.twins.replay.ReplayTwin.from_options` takes them), or ``"module:attr"``
naming a callable that takes the options as keyword arguments and returns a :class:`Twin`. Recipes
come from the server's configuration (scene files), never from clients: ``module:attr`` imports code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vizserver.errors import InputError
from vizserver.twins.base import ParamValue, Twin

BUILT_IN_KINDS = ("cardiac", "tumour", "replay")


class TwinRecipeError(InputError):
    """A recipe names no buildable twin or gives options it cannot take."""


@dataclass(frozen=True)
class TwinRecipe:
    """Picklable: sent to the worker process, which calls :func:`build_twin`."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    """Initial parameter values (validated by the twin; missing ones take its defaults)."""


def check_recipe(recipe: TwinRecipe) -> None:
    """The checks that need no import, so a misspelt kind fails before a worker process starts."""
    if recipe.kind in BUILT_IN_KINDS:
        return
    module, sep, attr = recipe.kind.partition(":")
    if not sep or not module or not attr:
        raise TwinRecipeError(f"twin kind {recipe.kind!r}: expected one of {', '.join(BUILT_IN_KINDS)} "
                              "or 'module:attr'")
    if not all(isinstance(k, str) for k in recipe.options):
        raise TwinRecipeError(f"twin kind {recipe.kind!r}: option names must be strings")


def build_twin(recipe: TwinRecipe) -> Twin:
    """The twin ``recipe`` describes, with ``recipe.params`` applied (in the worker process)."""
    check_recipe(recipe)
    options = dict(recipe.options)
    params = dict(recipe.params)
    if recipe.kind == "cardiac":
        return _cardiac(options, params)
    if recipe.kind == "tumour":
        _no_options("tumour", options)
        from vizserver.twins.tumour import TumourTwin

        twin: Twin = TumourTwin()
    elif recipe.kind == "replay":
        try:
            from vizserver.twins.replay import ReplayTwin
        except ModuleNotFoundError as exc:
            raise TwinRecipeError(f"twin kind 'replay' is not available: {exc}") from None
        twin = ReplayTwin.from_options(options)
    else:
        twin = _from_module(recipe.kind, options)
    if params:
        twin.reset(params)
    return twin


def _cardiac(options: dict[str, Any], params: dict[str, ParamValue]) -> Twin:
    """``build_mesh_twin`` on the ``mesh`` file the options name, else (no or null ``mesh``) ``build_lv_twin``."""
    from vizserver.twins import cardiac

    mesh = options.pop("mesh", None)
    try:
        if mesh is None:
            return cardiac.build_lv_twin(**options, params=params)
        return cardiac.build_mesh_twin(mesh, **options, params=params)
    except TypeError as exc:  # an option neither the builder nor CardiacTwin takes
        raise TwinRecipeError(f"cardiac: {exc}") from None


def _from_module(kind: str, options: dict[str, Any]) -> Twin:
    module_name, _, attr = kind.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise TwinRecipeError(f"twin kind {kind!r}: cannot import {exc.name or module_name!r}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise TwinRecipeError(f"twin kind {kind!r}: {module_name} has no callable {attr!r}")
    try:
        twin = factory(**options)
    except TypeError as exc:
        raise TwinRecipeError(f"twin kind {kind!r}: {exc}") from None
    if not isinstance(twin, Twin):
        raise TwinRecipeError(f"twin kind {kind!r}: {attr} returned a {type(twin).__name__}, not a Twin")
    return twin


def _no_options(kind: str, options: Mapping[str, Any]) -> None:
    if options:
        raise TwinRecipeError(f"{kind}: unknown option(s) {', '.join(sorted(options))}")
