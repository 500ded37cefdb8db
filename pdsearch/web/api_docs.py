"""``/docs``: the interactive API reference (Swagger UI) served entirely by this service.

FastAPI's own ``/docs`` loads Swagger UI's script and style from a CDN, so it is a blank page
on a machine without internet access. Here they come from the installed ``swagger-ui-bundle-v2``
package (Swagger UI's own distribution files, Apache-2.0) under ``/docs/assets``, and the page
gets a Content-Security-Policy of its own: the pages' policy, plus the one inline script that
starts Swagger UI, allowed by its hash (computed from the page as generated, so it cannot drift),
and inline styles, which Swagger UI sets on its elements.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def _docs_page(openapi_url: str, title: str) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        # Swagger UI would otherwise ask validator.swagger.io to check the description.
        swagger_ui_parameters={"validatorUrl": None},
    )
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body))
    )
    page.headers.update(
        {
            "Content-Security-Policy": (
                f"default-src 'self'; script-src 'self' {hashes}; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        }
    )
    return page


def install_api_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets from this service (create the app with ``docs_url=None``
    so FastAPI's CDN-backed page is not installed as well)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API reference"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return _docs_page(openapi_url, title)
