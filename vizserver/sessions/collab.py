"""Annotations and the guided tour of one session, routed: a member's request in, the session's effects out.

:class:`~vizserver.sessions.session.Session` calls these after the permission table let a message
through (``sessions/roles.py``); the finer rules are the pure cores': whose annotation one may delete
(``annotations.py``: the author or the host) and whose tour step one may move (``tours.py``: guided,
only whoever may drive; self-paced, one's own). A refusal is an ``error`` to the sender alone (and a
:class:`Denied` for the log when it is ``forbidden``).

Tour effects become messages for the right receivers: a step for everyone or for one member's
connections, the progress map for whoever may drive the tour. A guided step's shared parts are
applied here once: time and playing through the session's playback, twin parameters and actions as
:class:`Delegate` effects on behalf of the mover, the same path a presenter's ``twin_params`` takes.
Pure: the caller passes ``now`` (the session's monotonic clock); annotation times are wall-clock
seconds, ``now + session.wall_offset``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vizserver.protocol.messages import (
    U32_MAX,
    AnnotationAdd,
    AnnotationClear,
    AnnotationDelete,
    AnnotationDeleted,
    AnnotationMessage,
    AnnotationRequest,
    AnnotationsMessage,
    ErrorMessage,
    PinInfo,
    StrokeInfo,
    TourCamera,
    TourClip,
    TourModeRequest,
    TourMove,
    TourOutline,
    TourProgress,
    TourRequest,
    TourStepMessage,
    TwinAction,
    TwinParams,
)
from vizserver.sessions.annotations import Annotation, AnnotationError, Pin, annotation_dict
from vizserver.sessions.events import Broadcast, Delegate, Denied, Effect, Send, StreamsChanged
from vizserver.sessions.members import Member
from vizserver.sessions.roles import permits
from vizserver.sessions.tours import (
    EVERYONE,
    ModeChanged,
    Progress,
    ShowStep,
    TourEffect,
    TourError,
    TourState,
    TourStep,
)

if TYPE_CHECKING:
    from vizserver.sessions.session import Session

TOUR_SEQ = U32_MAX
"""The ``seq`` of the twin requests a guided step makes on its mover's behalf (their ``twin_applied`` and
errors go to the mover); clients keep it out of their own numbering."""

MAX_REASON_CHARS = 300
"""A refusal's message is cut to this (it may quote the request)."""


# --- joining and leaving ---


def joined(session: Session, client_id: str, member: Member) -> list[Effect]:
    """What a (re)connecting client is told: every annotation, the tour's outline and the step it should see."""
    effects: list[Effect] = [
        Send(client_id, AnnotationsMessage(items=[annotation_info(a) for a in session.annotations.list()]))
    ]
    tour = session.tour
    if tour is not None:
        effects.append(Send(client_id, outline(tour)))
        effects += _carry_out(session, tour.join(member.id), client_id, now=None, only=client_id)
    return effects


def left(session: Session, member_id: str) -> list[Effect]:
    """The member's last connection closed: their self-paced step is kept, the progress map drops them."""
    if session.tour is None:
        return []
    return _carry_out(session, session.tour.leave(member_id), "", now=None)


def forget(session: Session, member_id: str) -> list[Effect]:
    """The member was removed: their tour step goes (their annotations stay, the host's to delete)."""
    if session.tour is None:
        return []
    effects = _carry_out(session, session.tour.leave(member_id), "", now=None)
    session.tour.forget(member_id)
    return effects


Request = AnnotationAdd | AnnotationDelete | AnnotationClear | TourMove | TourModeRequest
"""The messages routed here."""


def request(session: Session, client_id: str, msg: Request, now: float) -> list[Effect]:
    """An annotation or tour request the permission table let through, from a connected client."""
    member = session.member(session.clients[client_id].token)
    assert member is not None  # the permission check found it
    if isinstance(msg, TourMove | TourModeRequest):
        return tour_request(session, client_id, member, msg, now)
    return annotation_request(session, client_id, member, msg, now)


# --- annotations ---


def annotation_request(session: Session, client_id: str, member: Member, msg: AnnotationRequest,
                       now: float) -> list[Effect]:
    store = session.annotations
    by_host = member.role == "host"
    try:
        if isinstance(msg, AnnotationAdd):
            return [Broadcast(AnnotationMessage(annotation=annotation_info(_add(session, member, msg, now))))]
        if isinstance(msg, AnnotationDelete):
            store.delete(msg.id, by=member.id, by_host=by_host)
            return [Broadcast(AnnotationDeleted(ids=[msg.id], by=member.id))]
        gone = store.clear(None if msg.all else msg.author or member.id, by=member.id, by_host=by_host)
        return [Broadcast(AnnotationDeleted(ids=list(gone), by=member.id))] if gone else []
    except AnnotationError as exc:
        return _refusal(client_id, member, exc.code, f"{msg.type}: {exc}")


def _add(session: Session, member: Member, msg: AnnotationAdd, now: float) -> Annotation:
    color, wall = msg.color or member.color, now + session.wall_offset
    if msg.kind == "pin":
        assert msg.object is not None and msg.point is not None and msg.text is not None  # the message's validator
        return session.annotations.add_pin(author=member.id, object_id=msg.object, point=msg.point, text=msg.text,
                                           color=color, now=wall, objects=range(len(session.objects)),
                                           normal=msg.normal)
    assert msg.points is not None and msg.width is not None
    return session.annotations.add_stroke(author=member.id, points=msg.points, width=msg.width, color=color, now=wall)


def annotation_info(item: Annotation) -> PinInfo | StrokeInfo:
    """One annotation as it travels (the export's entry)."""
    values = annotation_dict(item)
    return PinInfo.model_validate(values) if isinstance(item, Pin) else StrokeInfo.model_validate(values)


# --- the tour ---


def tour_request(session: Session, client_id: str, member: Member, msg: TourRequest, now: float) -> list[Effect]:
    tour = session.tour
    if tour is None:
        return _refusal(client_id, member, "tour_off", f"{msg.type}: this session's scene has no tour")
    driver = permits(member.role, "tour_mode", session.policy)
    try:
        if isinstance(msg, TourModeRequest):
            effects = tour.set_mode(msg.mode, driver=driver, start=msg.start)
        elif msg.move == "next":
            effects = tour.next(member.id, driver=driver)
        elif msg.move == "prev":
            effects = tour.prev(member.id, driver=driver)
        else:
            assert msg.step is not None  # TourMove's validator
            effects = tour.goto(member.id, msg.step, driver=driver)
    except TourError as exc:
        return _refusal(client_id, member, exc.code, str(exc))
    return _carry_out(session, effects, client_id, now)


def outline(tour: TourState) -> TourOutline:
    return TourOutline(title=tour.tour.title, titles=[s.title for s in tour.tour.steps], count=len(tour.tour),
                       mode=tour.mode, step=tour.guided_index)


def _carry_out(session: Session, effects: list[TourEffect], mover: str, now: float | None,
               only: str | None = None) -> list[Effect]:
    """The tour's effects as the session's; ``only``: show steps to this client alone (it just connected);
    ``now``: when to apply a guided step's shared parts (``None``: never, as when someone joins)."""
    out: list[Effect] = []
    tour = session.tour
    assert tour is not None
    for effect in effects:
        if isinstance(effect, ModeChanged):
            out.append(Broadcast(outline(tour)))
        elif isinstance(effect, Progress):
            progress = TourProgress(mode=tour.mode, count=len(tour.tour), steps=dict(effect.steps))
            out += [Send(c, progress) for c in _drivers(session)]
        else:
            message = step_message(session, effect)
            if only is not None:
                out.append(Send(only, message))
            elif effect.to == EVERYONE:
                out.append(Broadcast(message))
            else:
                out += [Send(c, message) for c in _clients_of(session, effect.to)]
            if effect.apply_shared and now is not None:
                out += _apply_shared(session, effect.step, mover, now)
    return out


def step_message(session: Session, show: ShowStep) -> TourStepMessage:
    step = show.step
    camera = None if step.camera is None else TourCamera(position=step.camera.position, target=step.camera.target,
                                                         up=step.camera.up)
    clip = None if step.clip is None else TourClip(axis=step.clip.axis, position=step.clip.position,
                                                   flip=step.clip.flip)
    return TourStepMessage(mode=show.mode, step=show.index, count=show.count, title=step.title, caption=step.caption,
                           camera=camera, visible=_object_ids(session, step.visible), clip=clip)


def _object_ids(session: Session, names: tuple[str, ...] | None) -> list[int] | None:
    """The ids of the objects named (an object the scene split into parts ``name/...``: every part)."""
    if names is None:
        return None
    return [o.id for o in session.objects if any(o.name == n or o.name.startswith(f"{n}/") for n in names)]


def _apply_shared(session: Session, step: TourStep, mover: str, now: float) -> list[Effect]:
    """The step's time and playing through the shared playback, its twin parts as the mover's twin requests."""
    out: list[Effect] = []
    target = _time_step(session, step)
    if target is not None or step.playing is not None:
        session.playback = session.playback.change(now, step=target, playing=step.playing)
        out += [Broadcast(None), StreamsChanged()]
    if step.twin:
        out.append(Delegate(mover, TwinParams(seq=TOUR_SEQ, values=dict(step.twin))))
    for action in step.actions:
        point = None if action.point is None else (float(action.point[0]), float(action.point[1]),
                                                   float(action.point[2]))
        out.append(Delegate(mover, TwinAction(seq=TOUR_SEQ, action=action.action, point=point)))
    return out


def _time_step(session: Session, step: TourStep) -> int | None:
    """The playback step a tour step asks for: ``time_step``, or the step whose time is nearest ``time``."""
    if step.time_step is not None:
        return step.time_step
    times = session.times
    if step.time is None or not times:
        return None
    return int(np.argmin(np.abs(np.asarray(times, dtype=np.float64) - step.time)))


# --- receivers ---


def _clients_of(session: Session, member_ids: tuple[str, ...]) -> list[str]:
    tokens = {m.token for m in session.roster if m.id in member_ids}
    return [c.client_id for c in session.connected if c.token in tokens]


def _drivers(session: Session) -> list[str]:
    """Connected clients whose member may drive the tour (the host and presenter; participants of an open session)."""
    policy = session.policy
    out = []
    for client in session.connected:
        member = session.member(client.token)
        if member is not None and permits(member.role, "tour_mode", policy):
            out.append(client.client_id)
    return out


def _refusal(client_id: str, member: Member, code: str, reason: str) -> list[Effect]:
    reason = " ".join(reason.split())[:MAX_REASON_CHARS]
    effects: list[Effect] = [Send(client_id, ErrorMessage(code=code, message=reason))]
    if code == "forbidden":
        effects.append(Denied(client_id, member.id, member.role, reason))
    return effects
