"""vizserver: XR streaming server for health digital twins."""

__version__ = "0.1.0"
