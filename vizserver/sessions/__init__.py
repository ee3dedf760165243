"""Session logic, pure (no asyncio, no sockets): state machines fed events and explicit clock readings.

- ``session``: one session: events in, effects out (``events``); checks every message against ``roles``.
- ``roles``: who may send what (the permission table, as data).
- ``members``: the roster: tokens, public ids, names, colours, roles, the presenter, the hand queue.
- ``registry``: every session of a server by id or join code; issues tokens, limits joins.
- ``collab``: annotations (``annotations``) and the guided tour (``tours``) routed: requests in, messages out.
- ``playback``: the session's shared time-series playback (play, pause, seek, speed, loop).
- ``snapshot``: a session as versioned JSON (tokens as SHA-256) and back, for the server's session store.
- ``steering``: requests to a session's live twin (checked, tagged, rate-limited).
- ``ratelimit``: token buckets by key.
"""
