"""Packing model objects for the wire: GLB scenes (glb.py), and the quantization they share with streams."""

from vizserver.encode.glb import (
    Compression,
    EncodedGlb,
    EncodedMesh,
    EncodeOptions,
    encode_glb,
    encode_glb_layout,
)
from vizserver.encode.quantize import dequantize, quantize

__all__ = [
    "Compression",
    "EncodeOptions",
    "EncodedGlb",
    "EncodedMesh",
    "dequantize",
    "encode_glb",
    "encode_glb_layout",
    "quantize",
]
