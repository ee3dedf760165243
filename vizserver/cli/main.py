"""``vizserver`` commands: convert, inspect, assets. Errors print one line; ``--debug`` adds the traceback."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from vizserver.cli.serve import serve
from vizserver.cli.worker import worker
from vizserver.errors import VizServerError

app = typer.Typer(
    name="vizserver",
    help="XR streaming server for health digital twins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
assets_app = typer.Typer(help="Anatomy assets: list the catalogue, fetch an entry.", no_args_is_help=True)
app.add_typer(assets_app, name="assets")
app.command()(serve)
app.command()(worker)

_state = {"debug": False}


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _state["debug"] = debug


def _fail(exc: BaseException) -> None:
    if _state["debug"]:
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, allow_nan=False) + "\n")


@app.command()
def convert(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Mesh, simulation output, volume or folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="GLB file to write.")],
    reduction: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Fraction of triangles to remove by decimation (0 keeps all).")
    ] = 0.0,
    compression: Annotated[str, typer.Option(help="meshopt, quantized or none.")] = "meshopt",
    iso: Annotated[float | None, typer.Option(help="Iso value for intensity volumes (default: automatic).")] = None,
    reconstruct: Annotated[
        bool, typer.Option("--reconstruct", help="Reconstruct a surface from point clouds (Poisson).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Convert INPUT to a compact, validated GLB."""
    from vizserver.cli.progress import DelayedProgress
    from vizserver.convert import ConvertOptions, convert_file

    if compression not in ("meshopt", "quantized", "none"):
        _fail(VizServerError(f"--compression must be meshopt, quantized or none, not {compression!r}"))
    options = ConvertOptions(
        reduction=reduction, compression=compression, iso=iso, reconstruct=reconstruct  # type: ignore[arg-type]
    )
    try:
        with DelayedProgress() as progress:
            result = convert_file(input_path, options, progress.update)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(result.glb)
    except VizServerError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(VizServerError(f"{output}: cannot write ({exc.strerror})"))
    summary = {"input": str(input_path), "output": str(output), **result.summary()}
    if as_json:
        _print_json(summary)
        return
    typer.echo(
        f"{output}: {summary['bytes']:,} bytes, {summary['triangles']:,} triangles "
        f"in {len(summary['objects'])} object(s), {summary['seconds']:.2f} s"
    )


def _format_range(r: list[float] | None) -> str:
    return "no finite values" if r is None else f"[{r[0]:.6g}, {r[1]:.6g}]"


def _print_description(d: dict[str, Any]) -> None:
    typer.echo(f"{d['source']} ({d['format']}): {len(d['objects'])} object(s), {d['memory_bytes']:,} bytes in memory")
    for o in d["objects"]:
        typer.echo(f"  {o['name']}: {o['kind']}, {o['points']:,} points, {o['cells']:,} cells")
        if o.get("cell_types"):
            typer.echo("    cells: " + ", ".join(f"{n:,} {k}" for k, n in o["cell_types"].items()))
        if "dimensions" in o:
            dims = " x ".join(str(v) for v in o["dimensions"])
            typer.echo(f"    grid {dims}, spacing {o['spacing']}, {o['dtype']}, range {_format_range(o['range'])}")
        if o.get("labels"):
            typer.echo(f"    labels: {o['labels']}")
        for f in o["fields"]:
            unit = f" {f['unit']}" if f["unit"] else ""
            comps = f" ({f['components']} components)" if f["components"] > 1 else ""
            typer.echo(f"    field {f['name']} on {f['association']}s{comps}{unit}: {_format_range(f['range'])}")
        if "time_steps" in o:
            t = o["time_steps"]
            typer.echo(f"    {t['count']} time steps from {t['first']} to {t['last']} {t['unit']}".rstrip())
        lo, hi = o["bounds"]
        typer.echo(f"    bounds {lo} .. {hi}")
    if d["removed_identifiers"]:
        typer.echo("  identifying fields removed: " + ", ".join(d["removed_identifiers"]))


@app.command()
def inspect(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Describe INPUT: points, cells, fields with ranges, time steps, bounds, memory."""
    from vizserver.io import format_name, read
    from vizserver.summary import describe_scene

    try:
        scene = read(input_path)
        source_format = format_name(input_path)
    except VizServerError as exc:
        _fail(exc)
    description = describe_scene(scene, source=str(input_path), format_name=source_format)
    if as_json:
        _print_json(description)
    else:
        _print_description(description)


@assets_app.command("list")
def assets_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the anatomy assets that can be fetched."""
    from vizserver.anatomy.catalog import list_assets

    entries = list_assets()
    if as_json:
        _print_json({"assets": [{"name": e.name, "title": e.title, "licence": e.licence} for e in entries]})
        return
    for e in entries:
        typer.echo(f"{e.name}: {e.title} ({e.licence})")


@assets_app.command("fetch")
def assets_fetch(
    name: Annotated[str, typer.Argument()],
    dest: Annotated[Path | None, typer.Option(help="Folder to store it in (default: the user cache).")] = None,
) -> None:
    """Download a catalogued asset, verify it and unpack its meshes."""
    from vizserver.anatomy.catalog import fetch
    from vizserver.cli.progress import DelayedProgress

    try:
        with DelayedProgress() as progress:
            path = fetch(name, dest, on_progress=lambda done, total: progress.update(name, done / max(total, 1)))
    except VizServerError as exc:
        _fail(exc)
    typer.echo(str(path))


@app.command("twin-worker")
def twin_worker(
    connect: Annotated[str, typer.Option(help="The server's twin URL: ws://HOST:PORT/ws/twin/SESSION?token=TOKEN.")],
    twin: Annotated[str, typer.Option(help="module:attr returning a Twin (imported from here or PYTHONPATH).")],
    option: Annotated[list[str] | None, typer.Option(help="key=value passed to module:attr; repeatable.")] = None,
    frame_interval: Annotated[float, typer.Option(help="Wall seconds between frames.")] = 1 / 30,
) -> None:
    """Run a twin here and stream it to a session on a server (a remote twin, docs/twins.md)."""
    import os

    from vizserver.twins.recipes import TwinRecipe
    from vizserver.twins.remote import RemoteWorkerError, parse_option, run_remote_worker

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does, so `--twin my_model:Twin` finds ./my_model.py
    try:
        options = dict(parse_option(o) for o in option or [])
        code, closed = run_remote_worker(connect, TwinRecipe(kind=twin, options=options), frame_interval)
    except RemoteWorkerError as exc:
        if _state["debug"]:
            traceback.print_exception(exc, file=sys.stderr)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        raise typer.Exit(code=0) from None
    if closed is not None:
        typer.echo(f"twin-worker: {closed}", err=True)
    raise typer.Exit(code=code)


def main() -> None:
    app()
