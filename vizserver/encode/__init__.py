"""Packing model objects for the wire: GLB scenes (glb.py). Quantization lives in vizserver.quantize."""

from vizserver.encode.glb import (
    Compression,
    EncodedGlb,
    EncodedMesh,
    EncodeOptions,
    encode_glb,
    encode_glb_layout,
)

__all__ = [
    "Compression",
    "EncodeOptions",
    "EncodedGlb",
    "EncodedMesh",
    "encode_glb",
    "encode_glb_layout",
]
