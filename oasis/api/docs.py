"""/docs (Swagger UI) and /redoc from files installed with OASIS, never from a CDN.

FastAPI's own pages load their scripts from a CDN, so on a machine without internet access
they are blank. The assets come from the `fastapi-offline` package (Swagger UI, Apache
2.0, and ReDoc, MIT, bundled by it under MIT); only its static files are used. The pages
carry no inline script, so a Content-Security-Policy of `script-src 'self'` holds: Swagger
UI is started by the console's static `docs-init.js`, ReDoc reads its spec URL from the
`<redoc>` element.
"""

from __future__ import annotations

from html import escape
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"


def assets_dir() -> Path:
    """Where the installed `fastapi-offline` keeps swagger-ui-bundle.js and friends."""
    return Path(str(resources.files("fastapi_offline").joinpath("static")))


def _swagger_page(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - Swagger UI</title>
<link rel="icon" href="{ASSETS_URL}/favicon.png">
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head><body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body></html>
"""


def _redoc_page(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{ASSETS_URL}/favicon.png">
</head><body>
<redoc spec-url="{escape(openapi_url)}"></redoc>
<script src="{ASSETS_URL}/redoc.standalone.js"></script>
</body></html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for `app`, which was made with docs_url=redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    swagger, redoc = _swagger_page(app.title, openapi_url), _redoc_page(app.title, openapi_url)
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    app.get("/docs", include_in_schema=False, response_class=HTMLResponse)(lambda: swagger)
    app.get("/redoc", include_in_schema=False, response_class=HTMLResponse)(lambda: redoc)
