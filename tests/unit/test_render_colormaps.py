"""The server colours fields as the browser does: the same tables, the same range and label rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from fixtures.sessions import field, static_object

from vizserver.render.colormaps import COLORMAP_TABLES, colormap_table, hex_rgb, resolve
from vizserver.render.field_colors import FieldStyle, field_style, vertex_colors

CLIENT = Path(__file__).resolve().parents[2] / "webxr_client"


def test_anchor_values_equal_the_client_tables() -> None:
    source = (CLIENT / "src" / "colormapTables.js").read_text()
    body = source[source.index("COLORMAP_TABLES = {") : source.index("};")]
    client = {
        name: re.findall(r"'([0-9a-f]{6})'", values)
        for name, values in re.findall(r"(\w+): \[([^\]]*)\]", body)
    }
    assert client == {name: list(values) for name, values in COLORMAP_TABLES.items()}


def test_tables_equal_the_clients_colormap_textures_texel_for_texel() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed to run the client's ColormapTexture"
    script = (
        "import { ColormapTexture } from './src/ColormapTexture.js';"
        "const out = {}; for (const n of ColormapTexture.names) out[n] = Array.from(ColormapTexture.table(n));"
        "console.log(JSON.stringify(out));"
    )
    done = subprocess.run([node, "--input-type=module", "-e", script], cwd=CLIENT, capture_output=True, text=True,
                          timeout=60, check=True)
    client = json.loads(done.stdout)
    assert set(client) == set(COLORMAP_TABLES)
    for name, rgba in client.items():
        expected = np.asarray(rgba, dtype=np.uint8).reshape(-1, 4)[:, :3]
        np.testing.assert_array_equal(colormap_table(name), expected, err_msg=name)


def test_values_map_through_the_range_onto_the_table() -> None:
    style = FieldStyle("viridis", 0.0, 10.0)
    table = colormap_table("viridis")
    colors = vertex_colors(np.array([-5.0, 0.0, 10.0, 20.0, np.nan], np.float32), style)
    np.testing.assert_array_equal(colors[:4], [table[0], table[0], table[-1], table[-1]])
    np.testing.assert_array_equal(colors[4], hex_rgb(["8c8c8c"])[0])
    middle = vertex_colors(np.array([5.0], np.float32), style)[0].astype(int)
    assert np.abs(middle - (table[127].astype(int) + table[128].astype(int)) / 2).max() <= 1


def test_labels_pick_one_colour_each_and_vectors_show_their_magnitude() -> None:
    labels = vertex_colors(np.array([0.0, 1.0, 2.2, 20.0], np.float32), FieldStyle("categorical", 0, 3))
    table = colormap_table("categorical")
    np.testing.assert_array_equal(labels, table[[0, 1, 2, 0]])
    vectors = vertex_colors(np.array([[3.0, 4.0, 0.0]], np.float32), FieldStyle("grey", 0.0, 5.0))
    np.testing.assert_array_equal(vectors[0], [255, 255, 255])


def test_style_is_the_union_of_every_objects_range_for_that_field_name() -> None:
    from dataclasses import replace

    a = replace(static_object(0), fields=(replace(field(0, "p", True), range=(0.0, 1.0), color_range=None),))
    b = replace(static_object(1), fields=(replace(field(0, "p", True), range=(-3.0, 0.5), color_range=(-2.0, 0.5),
                                                  colormap="turbo"),))
    assert field_style([a, b], "p") == FieldStyle("viridis", -2.0, 1.0)
    assert field_style([a, b], "q") is None
    none = replace(a, fields=(replace(field(0, "p", True), range=None, color_range=None),))
    assert field_style([none], "p") == FieldStyle("viridis", 0.0, 0.0)  # the browser shows [0, 0] too
    assert resolve("nonesuch") == "viridis" and resolve("turbo", categorical=True) == "categorical"
