"""Every error vizserver raises on purpose derives from one root, so callers catch one thing.

    VizServerError
    ├── InputError                  the user's file or request is at fault
    │   ├── UnsupportedFormatError  no reader for this suffix or content
    │   ├── UnreadableFileError     empty, truncated, corrupt, or a reader crashed on it
    │   ├── InvalidGeometryError    NaN/inf coordinates, out-of-range indices, ...
    │   └── LimitExceededError      over a size, count or expansion limit (config.py)
    ├── MissingDependencyError      an optional package is needed for this input
    └── AssetError                  fetching or unpacking a catalogued asset failed

Messages are one line that names the thing and the problem, e.g.
``heart.vtu: truncated XML at byte 112554 (file is 281 KB)``.
"""

from __future__ import annotations


class VizServerError(Exception):
    """Root of every deliberate vizserver error."""


class InputError(VizServerError):
    """The input (a file, an upload, a request) is at fault, not the server."""


class UnsupportedFormatError(InputError):
    """No reader handles this file's suffix or content."""


class UnreadableFileError(InputError):
    """The file is empty, truncated or corrupt, or its reader failed on it."""


class InvalidGeometryError(InputError):
    """The file parsed but its geometry is unusable (NaN/inf, bad indices, ...)."""


class LimitExceededError(InputError):
    """A named limit in ``config.py`` was exceeded."""


class MissingDependencyError(VizServerError):
    """An optional dependency is needed for this input; the message says what to install."""


class AssetError(VizServerError):
    """A catalogued asset could not be fetched or unpacked."""
