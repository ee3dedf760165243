"""The guided tour of one session, pure: which step each member sees, and who must be told what.

A scene's ``tour:`` (docs/scene-format.md) becomes a :class:`Tour`. :class:`TourState` follows it:

- ``off``: no tour running; everyone explores freely.
- ``guided``: the presenter's step is everyone's. A move shows the step to everyone and asks the
  session to apply its shared parts (time, playing, twin parameters and actions) once.
- ``self_paced``: each member walks the tour alone. A move shows that member their own step and
  never touches the shared state (the time and the twin belong to the whole session); the host is
  sent the map member -> step (:class:`Progress`).

Methods return effects (plain dataclasses) and raise :class:`TourError` on a refused request.
Roles are the session's business: callers say whether the member may drive (``driver``: the
presenter or the host).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vizserver.errors import InputError
from vizserver.scenefile import CameraSpec, TourSpec, TourStepSpec, TwinValue

TourMode = Literal["off", "guided", "self_paced"]
TOUR_MODES: tuple[TourMode, ...] = ("off", "guided", "self_paced")
ErrorCode = Literal["tour_off", "forbidden", "bad_request"]
Vec3 = tuple[float, float, float]

EVERYONE: Literal["everyone"] = "everyone"
Recipients = Literal["everyone"] | tuple[str, ...]
"""Every member of the session, or these member ids."""


class TourError(InputError):
    """A tour request was refused; ``code`` is the protocol's error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code


# --- the tour, as the scene file gives it ---


@dataclass(frozen=True, slots=True)
class Camera:
    """Scene content coordinates (metres, z up)."""

    position: Vec3
    target: Vec3
    up: Vec3


@dataclass(frozen=True, slots=True)
class Clip:
    axis: Literal["x", "y", "z"]
    position: float
    """Fraction of the scene's bounds along ``axis``, as the client's clipping control."""
    flip: bool


@dataclass(frozen=True, slots=True)
class TwinAction:
    action: str
    point: Vec3 | None
    """In the twin object's own coordinates (before its transform)."""


@dataclass(frozen=True, slots=True)
class TourStep:
    """What one step shows. ``None`` for ``camera``, ``time``, ``time_step`` and ``playing``: left as it is."""

    title: str
    caption: str
    camera: Camera | None
    visible: tuple[str, ...] | None
    """Object names shown; ``None``: every object."""
    clip: Clip | None
    """``None``: no clipping."""
    time: float | None
    time_step: int | None
    playing: bool | None
    twin: Mapping[str, TwinValue]
    """The values in force at this step of every parameter the tour sets: the last value given at
    or before this step, else the scene's initial value (so going back restores them); a parameter
    with neither is left out (left as it is)."""
    actions: tuple[TwinAction, ...]
    """Run whenever the step is applied, from either direction: make them idempotent ('clear scar' first)."""


@dataclass(frozen=True, slots=True)
class Tour:
    title: str
    steps: tuple[TourStep, ...]

    @classmethod
    def of_spec(cls, spec: TourSpec, initial_twin: Mapping[str, Any] | None = None) -> Tour:
        """Named views resolved into cameras; ``initial_twin``: the scene's ``twin.parameters``."""
        touched = [name for step in spec.steps for name in (step.twin or {})]
        in_force = {name: initial_twin[name] for name in touched if initial_twin and name in initial_twin}
        steps = []
        for step in spec.steps:
            in_force.update(step.twin or {})
            steps.append(_step(spec, step, dict(in_force)))
        return cls(spec.title, tuple(steps))

    def __len__(self) -> int:
        return len(self.steps)


def _step(spec: TourSpec, step: TourStepSpec, twin: dict[str, TwinValue]) -> TourStep:
    return TourStep(
        title=step.title,
        caption=step.text,
        camera=None if step.camera is None else _camera(spec, step.camera),
        visible=None if step.visible is None else tuple(step.visible),
        clip=None if step.clip is None else Clip(step.clip.axis, step.clip.position, step.clip.flip),
        time=step.time,
        time_step=step.time_step,
        playing=step.playing,
        twin=twin,
        actions=tuple(TwinAction(a.action, a.point) for a in step.actions),
    )


def _camera(spec: TourSpec, camera: CameraSpec) -> Camera:
    if camera.view is not None:
        view = spec.views[camera.view]  # the scene file checked that it exists
        return Camera(view.position, view.target, view.up)
    assert camera.position is not None  # CameraSpec: a view or a position
    return Camera(camera.position, camera.target, camera.up)


# --- effects ---


@dataclass(frozen=True, slots=True)
class ShowStep:
    """Show step ``index`` to ``to``."""

    to: Recipients
    index: int
    count: int
    mode: TourMode
    step: TourStep
    apply_shared: bool
    """Guided moves only: the session also applies the step's time, playing, twin values and actions, once."""


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """Tell everyone the tour's mode (``index``: the guided step, where a guided tour resumes)."""

    mode: TourMode
    index: int
    count: int


@dataclass(frozen=True, slots=True)
class Progress:
    """For the host (and presenter): each present member's step, in self-paced mode."""

    steps: Mapping[str, int]


TourEffect = ShowStep | ModeChanged | Progress


# --- the state ---


@dataclass(slots=True)
class TourState:
    """Where a session is in its tour; change it only through its methods."""

    tour: Tour
    mode: TourMode = "off"
    guided_index: int = 0
    member_steps: dict[str, int] = field(default_factory=dict)
    """Self-paced steps, kept for members who left (they may come back) until :meth:`forget`."""
    present: set[str] = field(default_factory=set)

    # --- members ---

    def join(self, member: str) -> list[TourEffect]:
        """What a member who (re)joins should see: the guided step, or their own step (first: step 0)."""
        self.present.add(member)
        if self.mode == "guided":
            return [self._show((member,), self.guided_index, apply_shared=False)]
        if self.mode == "self_paced":
            index = self.member_steps.setdefault(member, 0)
            return [self._show((member,), index, apply_shared=False), self._progress()]
        return []

    def leave(self, member: str) -> list[TourEffect]:
        """The member's step is kept (a reconnect resumes it); the host's map drops them."""
        was_present = member in self.present
        self.present.discard(member)
        return [self._progress()] if was_present and self.mode == "self_paced" else []

    def forget(self, member: str) -> None:
        """The member is gone for good (their token expired or they were removed)."""
        self.present.discard(member)
        self.member_steps.pop(member, None)

    # --- moves ---

    def next(self, member: str, *, driver: bool) -> list[TourEffect]:
        return self._move(member, lambda index: index + 1, driver=driver, explicit=False)

    def prev(self, member: str, *, driver: bool) -> list[TourEffect]:
        return self._move(member, lambda index: index - 1, driver=driver, explicit=False)

    def goto(self, member: str, index: int, *, driver: bool) -> list[TourEffect]:
        """Step ``index`` (clamped to the tour); unlike next/prev at an end, it re-applies the current step."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise TourError("bad_request", f"tour: step must be an integer, not {index!r}")
        return self._move(member, lambda _: index, driver=driver, explicit=True)

    def _move(self, member: str, target: Callable[[int], int], *, driver: bool, explicit: bool) -> list[TourEffect]:
        if self.mode == "off":
            raise TourError("tour_off", "tour: no tour is running (the presenter starts one)")
        if self.mode == "guided":
            if not driver:
                raise TourError("forbidden", "tour: the presenter moves a guided tour")
            index = self._clamp(target(self.guided_index))
            if index == self.guided_index and not explicit:
                return []
            self.guided_index = index
            return [self._show(EVERYONE, index, apply_shared=True)]
        current = self.member_steps.get(member, 0)
        index = self._clamp(target(current))
        if index == current and not explicit:
            return []
        self.member_steps[member] = index
        return [self._show((member,), index, apply_shared=False), self._progress()]

    # --- modes ---

    def set_mode(self, mode: TourMode, *, driver: bool, start: int | None = None) -> list[TourEffect]:
        """Start, switch or stop the tour. ``start``: the step to begin at (default: where the guided tour was).

        To ``guided``: everyone is shown the guided step and its shared parts are applied. To
        ``self_paced`` from ``guided``: everyone goes on alone from the guided step; from ``off``:
        from ``start`` (default 0). To ``off``: the self-paced steps are dropped.
        """
        if not driver:
            raise TourError("forbidden", "tour: the presenter or the host starts, switches and stops the tour")
        if mode not in TOUR_MODES:
            raise TourError("bad_request", f"tour: mode must be one of {', '.join(TOUR_MODES)}, not {mode!r}")
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
            raise TourError("bad_request", f"tour: start must be an integer, not {start!r}")
        previous = self.mode
        if mode == previous and start is None:
            return []
        if start is not None:
            self.guided_index = self._clamp(start)
        elif previous == "off":
            self.guided_index = 0
        self.mode = mode
        changed = ModeChanged(mode, self.guided_index, len(self.tour))
        if mode == "off":
            self.member_steps.clear()
            return [changed]
        if mode == "guided":
            return [changed, self._show(EVERYONE, self.guided_index, apply_shared=True)]
        already_there = previous == "guided" and start is None
        self.member_steps = {m: self.guided_index for m in self.present}
        shown = [] if already_there else [self._show(EVERYONE, self.guided_index, apply_shared=False)]
        return [changed, *shown, self._progress()]

    # --- persistence ---

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON values to resume from: the mode, the guided step and the self-paced steps (not who is present)."""
        return {"mode": self.mode, "guided_index": self.guided_index, "member_steps": dict(self.member_steps)}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Resume from :meth:`snapshot`; steps are clamped to this tour (the scene file may have changed).

        Raises :class:`TourError` (``bad_request``) for anything that is not a snapshot, changing nothing.
        """
        if not isinstance(snapshot, Mapping):
            raise TourError("bad_request", "tour snapshot: expected an object")
        mode, guided, steps = snapshot.get("mode"), snapshot.get("guided_index"), snapshot.get("member_steps")
        if mode not in TOUR_MODES:
            raise TourError("bad_request", f"tour snapshot: mode must be one of {', '.join(TOUR_MODES)}, not {mode!r}")
        if isinstance(guided, bool) or not isinstance(guided, int):
            raise TourError("bad_request", f"tour snapshot: guided_index must be an integer, not {guided!r}")
        if not isinstance(steps, Mapping) or not all(
            isinstance(m, str) and isinstance(i, int) and not isinstance(i, bool) for m, i in steps.items()
        ):
            raise TourError("bad_request", "tour snapshot: member_steps must map member ids to integers")
        self.mode = mode
        self.guided_index = self._clamp(guided)
        self.member_steps = {m: self._clamp(i) for m, i in steps.items()} if mode == "self_paced" else {}

    # --- views ---

    def progress(self) -> dict[str, int]:
        """Each present member's step: their own when self-paced, the guided step when guided; empty when off."""
        if self.mode == "self_paced":
            return {m: self.member_steps.get(m, 0) for m in sorted(self.present)}
        if self.mode == "guided":
            return dict.fromkeys(sorted(self.present), self.guided_index)
        return {}

    def _progress(self) -> Progress:
        return Progress(self.progress())

    def _show(self, to: Recipients, index: int, *, apply_shared: bool) -> ShowStep:
        return ShowStep(to, index, len(self.tour), self.mode, self.tour.steps[index], apply_shared)

    def _clamp(self, index: int) -> int:
        return min(max(index, 0), len(self.tour) - 1)
