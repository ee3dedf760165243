"""Session logic, pure (no asyncio, no sockets): state machines fed events and explicit clock readings.

- ``playback``: the session's shared time-series playback (play, pause, seek, speed, loop).
"""
