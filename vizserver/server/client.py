"""The web client: ``GET /`` serves the built page, or a page saying how to build it.

The client is built by vite from ``webxr_client/`` into ``vizserver/static/`` (not committed). Its
files are mounted at ``/`` after every API route (see ``app.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

import vizserver

STATIC_DIR = Path(vizserver.__file__).parent / "static"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vizserver: client not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>The web client is not built</h1>
<p>The server is running, but <code>vizserver/static/index.html</code> is missing.
Build the client with <code>make install</code> (it runs <code>npm ci</code> and the vite build), then reload.</p>
<p>The API works meanwhile: <a href="/docs">/docs</a>, <a href="/api/health">/api/health</a>.</p>
</body></html>
"""

router = APIRouter(tags=["client"])


@router.get("/", response_model=None, include_in_schema=False)
async def index() -> FileResponse | HTMLResponse:
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})
    return HTMLResponse(NOT_BUILT_PAGE, status_code=503)
