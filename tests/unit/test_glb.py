"""The GLB encoder: round trips per compression, validity (Khronos validator), size, determinism, errors."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizserver.encode.glb import EncodedGlb, EncodeOptions, encode_glb, encode_glb_layout
from vizserver.errors import InvalidGeometryError, UnreadableFileError, VizServerError
from vizserver.io.glb_decode import DecodedMesh, read_glb
from vizserver.model import Field, Mesh
from vizserver.quantize import dequantize, nodata_code, quantize, step

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "webxr_client"
VALIDATE = ROOT / "tests" / "tools" / "validate_gltf.mjs"
GLTFPACK = CLIENT / "node_modules" / "gltfpack" / "cli.js"
MODES = ("none", "quantized", "meshopt")


# ---------------------------------------------------------------- fixtures: procedural surfaces


def torus(nu: int, nv: int, *, shuffle: bool = False, seed: int = 0) -> Mesh:
    """A torus grid (2*nu*nv triangles), exact normals, a smooth scalar, a vector and a field with NaNs."""
    u, v = np.meshgrid(
        np.linspace(0, 2 * np.pi, nu, endpoint=False),
        np.linspace(0, 2 * np.pi, nv, endpoint=False),
        indexing="ij",
    )
    big, small = 10.0, 3.5
    points = np.stack(
        [(big + small * np.cos(v)) * np.cos(u), (big + small * np.cos(v)) * np.sin(u), small * np.sin(v)], -1
    ).reshape(-1, 3)
    normals = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)], -1).reshape(-1, 3)
    i, j = np.arange(nu)[:, None], np.arange(nv)[None, :]
    a, b = i * nv + j, ((i + 1) % nu) * nv + j
    c, d = ((i + 1) % nu) * nv + (j + 1) % nv, i * nv + (j + 1) % nv
    triangles = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    if shuffle:
        rng = np.random.default_rng(seed)
        triangles = triangles[rng.permutation(len(triangles))]
    temperature = 37.0 + 2.0 * np.sin(3 * points[:, 0] / big) * np.cos(points[:, 2] / small)
    activation = points[:, 0] * 4.0 + 100.0
    activation[::17] = np.nan  # tissue the wave never reached
    fields = {
        "temperature": Field("temperature", temperature.astype(np.float32), unit="degC"),
        "displacement": Field("displacement", (points * 0.01).astype(np.float32), unit="mm"),
        "activation": Field("activation", activation.astype(np.float32), unit="ms"),
    }
    return Mesh(points.astype(np.float32), triangles.astype(np.uint32), normals.astype(np.float32), fields)


def bumpy_sphere(n_triangles: int) -> Mesh:
    """A closed lat-long surface with shape detail and a smooth activation-like field (as the benchmark)."""
    rows = int(np.sqrt(n_triangles / 2))
    cols = n_triangles // (2 * rows)
    t, p = np.meshgrid(
        np.linspace(0.0, np.pi, rows + 1), np.linspace(0.0, 2 * np.pi, cols, endpoint=False), indexing="ij"
    )
    radius = 30.0 * (1 + 0.08 * np.sin(5 * t) * np.cos(3 * p) + 0.02 * np.sin(23 * t + 17 * p))
    points = np.stack(
        [radius * np.sin(t) * np.cos(p), radius * np.sin(t) * np.sin(p), 1.4 * radius * np.cos(t)], -1
    )
    points = points.reshape(-1, 3)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a, b = i * cols + j, i * cols + (j + 1) % cols
    c, d = a + cols, b + cols
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    face_normals = np.cross(
        points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]]
    )
    normals = np.zeros_like(points)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    field = np.hypot(points[:, 0] - 25, points[:, 2]) * 3.0
    return Mesh(
        points.astype(np.float32),
        faces.astype(np.uint32),
        normals.astype(np.float32),
        {"activation": Field("activation", field.astype(np.float32), unit="ms")},
    )


def cloud(n: int, seed: int = 1) -> Mesh:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 3)).astype(np.float32) * np.float32(5.0)
    return Mesh(
        points, np.zeros((0, 3), np.uint32), None, {"dose": Field("dose", rng.random(n).astype(np.float32))}
    )


def gltf_json(glb: bytes) -> dict[str, Any]:
    (length,) = struct.unpack_from("<I", glb, 12)
    return dict(json.loads(glb[20 : 20 + length]))


def canonical_triangles(triangles: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
    """Triangles rotated so the smallest id comes first (winding kept), sorted: equal sets compare equal."""
    t = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    shift = np.argmin(t, axis=1)
    rows = np.arange(len(t))[:, None]
    rotated = t[rows, (shift[:, None] + np.arange(3)[None, :]) % 3]
    return rotated[np.lexsort(rotated.T[::-1])]


def validate(paths: list[Path]) -> list[dict[str, Any]]:
    """Run the Khronos validator through tests/tools/validate_gltf.mjs; fail (never skip) if it is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not on PATH: the Khronos glTF validator runs on Node.js (install node, then `npm ci`)"
        )
    if not (CLIENT / "node_modules" / "gltf-validator").is_dir():
        pytest.fail(
            "webxr_client/node_modules is missing: run `npm ci` in webxr_client to install gltf-validator"
        )
    done = subprocess.run(
        [node, str(VALIDATE), *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


# ---------------------------------------------------------------- round trips


@pytest.fixture(scope="module")
def small_torus() -> Mesh:
    return torus(48, 24, shuffle=True)


@pytest.fixture(scope="module", params=MODES)
def round_trip(request: pytest.FixtureRequest, small_torus: Mesh) -> tuple[str, EncodedGlb, DecodedMesh]:
    mode = request.param
    encoded = encode_glb_layout([("torus", small_torus)], options=EncodeOptions(compression=mode))
    return mode, encoded, read_glb(encoded.data).meshes["torus"]


def test_positions_round_trip_within_half_a_quantization_step(
    round_trip: tuple[str, EncodedGlb, DecodedMesh], small_torus: Mesh
) -> None:
    mode, encoded, decoded = round_trip
    order = encoded.meshes[0].vertex_order
    original = small_torus.vertices[order]
    error = np.abs(decoded.positions.astype(np.float64) - original).max()
    if mode == "none":
        assert error == 0.0
    else:
        extent = float((small_torus.vertices.max(axis=0) - small_torus.vertices.min(axis=0)).max())
        bound = extent / ((1 << EncodeOptions().position_bits) - 1)  # one step; rounding gives half of it
        assert error <= bound / 2 * 1.001, (error, bound)
        assert error > 0  # really quantized


def test_triangles_are_the_same_triangles_with_the_same_winding(
    round_trip: tuple[str, EncodedGlb, DecodedMesh], small_torus: Mesh
) -> None:
    _, encoded, decoded = round_trip
    order = encoded.meshes[0].vertex_order
    assert decoded.mode == 4
    assert decoded.indices.shape == small_torus.triangles.shape
    in_input_ids = order[decoded.indices]
    assert np.array_equal(canonical_triangles(in_input_ids), canonical_triangles(small_torus.triangles))


def test_normals_round_trip_within_the_quantization_angle(
    round_trip: tuple[str, EncodedGlb, DecodedMesh], small_torus: Mesh
) -> None:
    mode, encoded, decoded = round_trip
    assert small_torus.normals is not None and decoded.normals is not None
    original = small_torus.normals[encoded.meshes[0].vertex_order]
    if mode == "none":
        assert np.abs(decoded.normals - original).max() <= 1e-6
        return
    cosine = np.clip((decoded.normals.astype(np.float64) * original).sum(axis=1), -1.0, 1.0)
    worst_degrees = float(np.degrees(np.arccos(cosine.min())))
    assert worst_degrees <= 1.5, worst_degrees  # int8: ~0.4 degrees; 8-bit octahedral: ~1.1


def test_fields_round_trip_within_half_a_step_and_keep_no_data(
    round_trip: tuple[str, EncodedGlb, DecodedMesh], small_torus: Mesh
) -> None:
    mode, encoded, decoded = round_trip
    order = encoded.meshes[0].vertex_order
    assert set(decoded.fields) == {"temperature", "displacement", "activation"}
    described = {f["name"]: f for f in decoded.extras["fields"]}
    for name, original_field in small_torus.point_fields.items():
        original = original_field.values[order]
        got = decoded.fields[name]
        assert got.shape == original.shape
        finite = np.isfinite(original)
        q = described[name]["quantization"]
        tolerance = 0.0 if q is None else q["step"] / 2 * 1.001 + 1e-6
        assert np.abs(got[finite] - original[finite]).max() <= tolerance, name
        if mode != "none":
            assert q["bits"] == 8 and q["normalized"] is True
            assert np.array_equal(np.isnan(got), ~finite), name  # NaN in, NaN out (the no-data code)
    activation = described["activation"]
    assert activation["nonfinite"] == int(np.isnan(small_torus.point_fields["activation"].values).sum())
    assert activation["unit"] == "ms" and activation["components"] == 1
    assert described["displacement"]["components"] == 3


def test_vertex_order_is_a_permutation_and_streams_use_it(
    round_trip: tuple[str, EncodedGlb, DecodedMesh],
) -> None:
    mode, encoded, _ = round_trip
    order = encoded.meshes[0].vertex_order
    assert order.dtype == np.uint32
    assert np.array_equal(np.sort(order), np.arange(order.shape[0]))
    if mode == "meshopt":
        assert not np.array_equal(order, np.arange(order.shape[0]))  # the shuffled input was reordered


def test_sixteen_bit_fields_and_normals_are_finer() -> None:
    mesh = torus(32, 16)
    options = EncodeOptions(compression="quantized", field_bits=16, normal_bits=16, position_bits=16)
    encoded = encode_glb_layout([("t", mesh)], options=options)
    decoded = read_glb(encoded.data).meshes["t"]
    original = mesh.point_fields["temperature"].values[encoded.meshes[0].vertex_order]
    span = float(original.max() - original.min())
    assert np.abs(decoded.fields["temperature"] - original).max() <= span / 65535 / 2 + 4e-6
    assert decoded.normals is not None and mesh.normals is not None
    assert np.abs(decoded.normals - mesh.normals).max() < 1e-4
    accessors = gltf_json(encoded.data)["accessors"]
    assert {a["componentType"] for a in accessors} >= {5122, 5123}  # SHORT normals, UNSIGNED_SHORT fields


def test_point_cloud_is_a_points_primitive_without_indices() -> None:
    points = cloud(500)
    for mode in MODES:
        encoded = encode_glb_layout([("scan", points)], options=EncodeOptions(compression=mode))
        primitive = gltf_json(encoded.data)["meshes"][0]["primitives"][0]
        assert primitive["mode"] == 0 and "indices" not in primitive
        decoded = read_glb(encoded.data).meshes["scan"]
        order = encoded.meshes[0].vertex_order
        assert decoded.indices.shape == (0, 3)
        step_bound = (
            0.0 if mode == "none" else float(np.ptp(points.vertices, axis=0).max()) / 16383 / 2 * 1.001
        )
        assert np.abs(decoded.positions - points.vertices[order]).max() <= step_bound
        assert (
            np.abs(decoded.fields["dose"] - points.point_fields["dose"].values[order]).max()
            <= 1 / 255 / 2 + 1e-6
        )


# ---------------------------------------------------------------- the glTF itself


def test_extensions_match_the_compression() -> None:
    mesh = torus(12, 8)
    for mode, expected in (
        ("none", None),
        ("quantized", ["KHR_mesh_quantization"]),
        ("meshopt", ["KHR_mesh_quantization", "EXT_meshopt_compression"]),
    ):
        doc = gltf_json(encode_glb([("t", mesh)], options=EncodeOptions(compression=mode)))
        assert doc.get("extensionsUsed") == expected
        assert doc.get("extensionsRequired") == expected


def test_meshopt_views_follow_the_extension_rules_and_bitstream_versions() -> None:
    glb = encode_glb([("t", torus(40, 20)), ("scan", cloud(300))])
    doc = gltf_json(glb)
    (length,) = struct.unpack_from("<I", glb, 12)
    binary = glb[20 + length + 8 :]
    fallback = doc["buffers"][1]
    assert fallback["extensions"]["EXT_meshopt_compression"] == {"fallback": True} and "uri" not in fallback
    assert doc["buffers"][0]["byteLength"] == len(binary)
    for view in doc["bufferViews"]:
        ext = view["extensions"]["EXT_meshopt_compression"]
        assert view["buffer"] == 1 and ext["buffer"] == 0
        assert view["byteOffset"] + view["byteLength"] <= fallback["byteLength"]
        assert view["byteLength"] == ext["count"] * ext["byteStride"]
        assert ext["byteOffset"] % 4 == 0 and ext["byteOffset"] + ext["byteLength"] <= len(binary)
        header = binary[ext["byteOffset"]]
        if ext["mode"] == "ATTRIBUTES":
            assert view["byteStride"] == ext["byteStride"] and ext["byteStride"] % 4 == 0
            assert header == 0xA0  # vertex codec v0: the only one EXT_meshopt_compression allows
        else:
            assert ext["mode"] == "TRIANGLES" and ext["count"] % 3 == 0 and ext["byteStride"] in (2, 4)
            assert header == 0xE1
        if ext.get("filter") == "OCTAHEDRAL":
            assert ext["byteStride"] in (4, 8)


def test_indices_are_16_bit_when_they_fit_and_32_bit_otherwise() -> None:
    small = torus(20, 10)
    big = torus(400, 170)  # 68,000 vertices
    for mode in ("quantized", "meshopt"):
        for mesh, expected in ((small, 5123), (big, 5125)):
            encoded = encode_glb_layout([("t", mesh)], options=EncodeOptions(compression=mode))
            doc = gltf_json(encoded.data)
            index = doc["meshes"][0]["primitives"][0]["indices"]
            assert doc["accessors"][index]["componentType"] == expected
            decoded = read_glb(encoded.data).meshes["t"]
            in_input_ids = encoded.meshes[0].vertex_order[decoded.indices]
            assert np.array_equal(canonical_triangles(in_input_ids), canonical_triangles(mesh.triangles))


def test_unreferenced_vertices_are_dropped_by_meshopt_and_kept_otherwise() -> None:
    mesh = torus(10, 6)
    extra = Mesh(
        np.concatenate([mesh.vertices, [[99.0, 99.0, 99.0]]]).astype(np.float32),
        mesh.triangles,
        point_fields={"f": Field("f", np.arange(mesh.n_points + 1, dtype=np.float32))},
    )
    for mode, expected in (
        ("none", extra.n_points),
        ("quantized", extra.n_points),
        ("meshopt", mesh.n_points),
    ):
        encoded = encode_glb_layout([("m", extra)], options=EncodeOptions(compression=mode))
        order = encoded.meshes[0].vertex_order
        assert encoded.meshes[0].n_vertices == expected and (mode != "meshopt" or mesh.n_points not in order)
        decoded = read_glb(encoded.data).meshes["m"]
        assert decoded.positions.shape == (expected, 3)
        assert np.abs(decoded.fields["f"] - order).max() <= 60 / 255 / 2 + 1e-4  # values follow vertex_order


def test_quantized_positions_are_dequantized_by_a_uniform_node_scale() -> None:
    mesh = torus(16, 8)
    doc = gltf_json(
        encode_glb([("t", mesh)], options=EncodeOptions(compression="quantized", position_bits=12))
    )
    node = doc["nodes"][0]
    assert node["scale"][0] == node["scale"][1] == node["scale"][2]
    extent = float(np.ptp(mesh.vertices, axis=0).max())
    assert node["scale"][0] == pytest.approx(extent / 4095)
    assert node["translation"] == pytest.approx(mesh.vertices.min(axis=0).tolist())
    position = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    assert max(position["max"]) == 4095 and position["min"] == [0, 0, 0]


def test_field_names_are_sanitized_unique_attributes_and_read_back_by_name() -> None:
    base = torus(10, 6)
    values = base.point_fields["temperature"].values
    odd = ["temp (°C)", "temp-°C", "a/b", "", "_x", "POSITION", "übung", "déjà vu"]
    mesh = base.with_point_fields({name: Field(name, values + k) for k, name in enumerate(odd)})
    encoded = encode_glb_layout([("odd", mesh)])
    attributes = list(encoded.meshes[0].attributes.values())
    assert len(set(attributes)) == len(odd)
    for attribute in attributes:
        assert attribute.startswith("_") and all(
            c.isupper() or c.isdigit() or c == "_" for c in attribute[1:]
        )
    assert encoded.meshes[0].attributes["temp (°C)"] == "_TEMP_C"
    decoded = read_glb(encoded.data).meshes["odd"]
    order = encoded.meshes[0].vertex_order
    for k, name in enumerate(odd):
        assert np.abs(decoded.fields[name] - (values[order] + k)).max() < 0.02, name


def test_extras_carry_field_metadata_time_steps_and_scene_extras() -> None:
    mesh = torus(10, 6)
    with_cells = Mesh(
        mesh.vertices,
        mesh.triangles,
        mesh.normals,
        {"temperature": mesh.point_fields["temperature"]},
        {"region": Field("region", np.arange(mesh.n_triangles, dtype=np.float32), association="cell")},
    )
    times = np.linspace(0.0, 1.0, 5)
    glb = encode_glb(
        [("heart", with_cells)],
        extras={"title": "demo", "scale_mm": np.float32(1.5), "missing": float("nan")},
        field_extras={
            "temperature": {"times": times, "range_over_time": (36.0, 40.0)},
            "region": {"times": [0.0]},
        },
    )
    doc = gltf_json(glb)
    assert doc["scenes"][0]["extras"] == {"title": "demo", "scale_mm": 1.5, "missing": None}
    extras = doc["meshes"][0]["primitives"][0]["extras"]
    (temperature,) = extras["fields"]
    assert temperature["times"] == times.tolist() and temperature["range_over_time"] == [36.0, 40.0]
    assert temperature["attribute"] == "_TEMPERATURE" and temperature["unit"] == "degC"
    lo, hi = with_cells.point_fields["temperature"].range
    assert temperature["range"] == [lo, hi]
    assert temperature["quantization"] == {
        "bits": 8,
        "normalized": True,
        "min": lo,
        "max": hi,
        "step": (hi - lo) / 255,
        "nodata": None,
    }
    assert extras["unencoded_fields"][0]["name"] == "region"
    assert extras["unencoded_fields"][0]["association"] == "cell"
    assert extras["positions"]["bits"] == 14
    assert extras["unencoded_fields"][0]["times"] == [0.0]  # field extras reach unencoded fields too
    quiet = encode_glb([("heart", with_cells)], field_extras={"pressure": {"times": [0.0]}})
    assert b"pressure" not in quiet  # a field no mesh carries (a point cloud's dropped cell field)
    with pytest.raises(ValueError, match="encoder writes itself"):
        encode_glb([("heart", with_cells)], field_extras={"temperature": {"quantization": 3}})


def test_khronos_validator_finds_no_errors_or_warnings(tmp_path: Path) -> None:
    base = torus(30, 16, shuffle=True)
    odd = base.with_point_fields({**base.point_fields, "temp (°C)": base.point_fields["temperature"]})
    meshes = [("torus", odd), ("scan", cloud(200)), ("plain", Mesh(base.vertices, base.triangles))]
    paths = []
    for mode in MODES:
        for bits in (8, 16):
            options = EncodeOptions(compression=mode, field_bits=bits, normal_bits=bits, position_bits=bits)
            path = tmp_path / f"{mode}_{bits}.glb"
            path.write_bytes(encode_glb(meshes, options=options, extras={"title": "validator"}))
            paths.append(path)
    reports = validate(paths)
    assert len(reports) == len(paths)
    for report in reports:
        assert report["errors"] == 0, report
        assert report["warnings"] == 0, report
        codes = {m["code"] for m in report["messages"]}
        # what the validator cannot check (it has no meshopt decoder); nothing else is reported
        assert codes <= {"UNSUPPORTED_EXTENSION", "UNUSED_OBJECT"}, report


def test_an_independent_meshopt_decoder_reads_our_streams(tmp_path: Path) -> None:
    """gltfpack (meshoptimizer as WebAssembly, like three.js's MeshoptDecoder) unpacks us to valid glTF."""
    if not GLTFPACK.is_file():
        pytest.fail("webxr_client/node_modules is missing: run `npm ci` in webxr_client to install gltfpack")
    packed = tmp_path / "packed.glb"
    packed.write_bytes(encode_glb([("torus", torus(30, 16, shuffle=True))]))
    unpacked = tmp_path / "unpacked.glb"
    done = subprocess.run(
        ["node", str(GLTFPACK), "-i", str(packed), "-o", str(unpacked), "-noq", "-v"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "960 triangles" in done.stdout + done.stderr  # 2 x 30 x 16, decoded from TRIANGLES mode
    (report,) = validate([unpacked])
    assert report["errors"] == 0 and report["warnings"] == 0, report  # bounds, unit normals, index ranges


# ---------------------------------------------------------------- size, determinism


def test_bytes_per_triangle_with_normals_and_one_field() -> None:
    mesh = bumpy_sphere(200_000)
    glb = encode_glb([("surface", mesh)])
    per_triangle = len(glb) / mesh.n_triangles
    # measured 3.91 (positions 1.82, normals 0.85, field 0.22, indices 1.00); 3.39 at 1M triangles
    assert per_triangle <= 4.5, per_triangle
    assert len(encode_glb([("surface", mesh)], options=EncodeOptions(compression="none"))) > 6 * len(glb)


def test_same_input_gives_identical_bytes_in_any_process() -> None:
    mesh = torus(24, 12, shuffle=True)
    again = Mesh(
        mesh.vertices.copy(),
        mesh.triangles.copy(),
        None if mesh.normals is None else mesh.normals.copy(),
        {k: Field(f.name, f.values.copy(), unit=f.unit) for k, f in mesh.point_fields.items()},
    )
    for mode in MODES:
        options = EncodeOptions(compression=mode)
        first = encode_glb([("t", mesh), ("c", cloud(50))], options=options, extras={"b": {2, 1}, "a": 1})
        second = encode_glb([("t", again), ("c", cloud(50))], options=options, extras={"b": {1, 2}, "a": 1})
        assert first == second, mode
    script = (
        "import hashlib, sys; sys.path.insert(0, 'tests/unit'); import test_glb as t;"
        "print(hashlib.sha256(t.encode_glb([('t', t.torus(24, 12, shuffle=True)), ('c', t.cloud(50))],"
        " extras={'b': {2, 1}, 'a': 1})).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = encode_glb([("t", mesh), ("c", cloud(50))], extras={"b": {2, 1}, "a": 1})
    assert done.stdout.strip() == hashlib.sha256(expected).hexdigest()


# ---------------------------------------------------------------- bad input


def test_empty_mesh_is_a_clear_error_naming_it() -> None:
    empty = Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32))
    with pytest.raises(InvalidGeometryError, match=r"^left_atrium: mesh has no vertices"):
        encode_glb([("left_atrium", empty)])


def test_bad_geometry_is_refused_naming_the_mesh() -> None:
    mesh = torus(6, 4)
    nan = mesh.vertices.copy()
    nan[3] = np.nan
    with pytest.raises(InvalidGeometryError, match=r"^m: 1 of 24 vertices are NaN"):
        encode_glb([("m", Mesh(nan, mesh.triangles))])
    bad = mesh.triangles.copy()
    bad[0, 0] = 24
    with pytest.raises(InvalidGeometryError, match=r"^m: triangle index 24 out of range"):
        encode_glb([("m", Mesh(mesh.vertices, bad))])
    short = {"f": Field("f", np.zeros(5, np.float32))}
    with pytest.raises(InvalidGeometryError, match="point field 'f' has 5 values for 24 points"):
        encode_glb([("m", Mesh(mesh.vertices, mesh.triangles, point_fields=short))])


def test_bad_options_and_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="position_bits"):
        EncodeOptions(position_bits=17)
    with pytest.raises(ValueError, match="field_bits"):
        EncodeOptions(field_bits=12)
    with pytest.raises(ValueError, match="compression"):
        EncodeOptions(compression="draco")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        encode_glb([("a", cloud(3)), ("a", cloud(3))])
    with pytest.raises(ValueError, match="no meshes"):
        encode_glb([])


def test_degenerate_inputs_still_encode() -> None:
    one_point = Mesh(np.ones((1, 3), np.float32), np.zeros((0, 3), np.uint32))
    flat = torus(8, 4)
    zero_normals = Mesh(flat.vertices, flat.triangles, np.zeros_like(flat.vertices))
    constant = flat.with_point_fields({"c": Field("c", np.full(flat.n_points, 7.0, np.float32))})
    all_nan = flat.with_point_fields({"n": Field("n", np.full(flat.n_points, np.nan, np.float32))})
    for mode in MODES:
        options = EncodeOptions(compression=mode)
        glb = encode_glb(
            [("p", one_point), ("z", zero_normals), ("c", constant), ("n", all_nan)], options=options
        )
        decoded = read_glb(glb).meshes
        assert np.allclose(decoded["p"].positions, 1.0)
        assert decoded["z"].normals is not None and np.allclose(
            decoded["z"].normals, [0.0, 0.0, 1.0], atol=0.01
        )
        assert np.allclose(decoded["c"].fields["c"], 7.0)
        expected_nan = mode != "none"  # float32 glTF may not hold NaN: "none" writes the field's minimum
        assert np.isnan(decoded["n"].fields["n"]).all() == expected_nan


@pytest.fixture(scope="module")
def valid_glb() -> bytes:
    return encode_glb([("t", torus(8, 6)), ("c", cloud(20))])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:10], "too short for a GLB"),
        (lambda b: b"xxxx" + b[4:], "not a GLB"),
        (lambda b: b[:-7], "header says"),
        (lambda b: b[:20] + b"[" + b[21:], "JSON chunk does not parse"),
        (lambda b: b[:4] + struct.pack("<I", 1) + b[8:], "version 1"),
    ],
)
def test_malformed_glb_is_an_unreadable_file_error_naming_it(
    valid_glb: bytes, damage: Any, message: str
) -> None:
    with pytest.raises(UnreadableFileError, match=f"^heart.glb: .*{message}"):
        read_glb(damage(valid_glb), name="heart.glb")


def test_garbage_meshopt_stream_is_an_unreadable_file_error(valid_glb: bytes) -> None:
    (length,) = struct.unpack_from("<I", valid_glb, 12)
    start = 20 + length + 8
    broken = valid_glb[:start] + bytes(len(valid_glb) - start)
    with pytest.raises(UnreadableFileError, match="meshopt data does not decode"):
        read_glb(broken, name="x.glb")


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_corrupted_glb_never_escapes_as_anything_but_our_errors(
    valid_glb: bytes, data: st.DataObject
) -> None:
    blob = bytearray(valid_glb)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(VizServerError):  # anything else (or a crash) fails the test
        read_glb(bytes(blob))


# ---------------------------------------------------------------- quantize helpers


@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=50),
    bits=st.sampled_from([1, 4, 8, 12, 16]),
)
def test_quantize_round_trip_is_within_half_a_step(values: list[float], bits: int) -> None:
    x = np.asarray(values, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    codes = quantize(x, lo, hi, bits)
    assert codes.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert int(codes.max()) <= (1 << bits) - 1
    back = dequantize(codes, lo, hi, bits)
    float32_rounding = float(np.spacing(np.float32(max(abs(lo), abs(hi)))))
    assert np.all(np.abs(back.astype(np.float64) - x) <= step(lo, hi, bits) / 2 * 1.0001 + float32_rounding)


def test_quantize_reserves_the_top_code_for_no_data_and_clamps() -> None:
    x = np.array([0.0, 0.5, 1.0, np.nan, np.inf, -2.0, 3.0], dtype=np.float32)
    codes = quantize(x, 0.0, 1.0, 8, nodata=True)
    assert codes.tolist() == [0, 127, 254, 255, 255, 0, 254]
    assert nodata_code(8) == 255
    back = dequantize(codes, 0.0, 1.0, 8, nodata=True)
    assert np.isnan(back[3]) and back[2] == 1.0
    plain = quantize(x, 0.0, 1.0, 8)
    assert plain.tolist() == [0, 128, 255, 0, 255, 0, 255]  # without no-data: NaN -> 0, clamped
    assert quantize(np.full(3, 5.0), 5.0, 5.0, 16).tolist() == [0, 0, 0]  # a constant field
    with pytest.raises(ValueError, match="bits"):
        quantize(x, 0.0, 1.0, 17)
    with pytest.raises(ValueError, match="2 bits"):
        dequantize(codes, 0.0, 1.0, 1, nodata=True)
