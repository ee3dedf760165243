"""Server-side rendering for the WebRTC video view (DESIGN.md 1 and 10): a session's scene drawn offscreen by VTK.

``colormaps`` and ``field_colors`` colour fields exactly as the browser does, ``camera`` is the viewer's camera
message, ``adaptation`` picks resolution and frame rate, ``scene_renderer`` draws (one thread only, see
``worker``), ``volumes`` finds and draws CT/MR volumes. The transport is ``vizserver/transports/video.py``.
"""
