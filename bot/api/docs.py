"""Swagger UI at /docs from the swagger-ui-bundle package: works without any CDN.

The bundled Swagger UI (4.x) reads OpenAPI 3.0 only, so the page gets a 3.0 rendition of the
app's 3.1 schema (nullable instead of null types); /openapi.json itself stays 3.1.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs-assets"
DOCS_SCHEMA = "/docs-assets/openapi-3.0.json"


def as_openapi_30(node: Any) -> Any:
    """A 3.1 schema fragment rewritten in 3.0 terms (null types, examples, const)."""
    if isinstance(node, list):
        return [as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_openapi_30(v) for k, v in node.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1:
            only = rest[0]
            out.update({"allOf": [only]} if "$ref" in only else only)
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    if isinstance(out.get("examples"), list) and "paths" not in out and out["examples"]:
        out["example"] = out.pop("examples")[0]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


def add_offline_docs(app: FastAPI) -> None:
    """Serve the Swagger UI page, its assets and its 3.0 schema from this process."""

    @app.get(DOCS_SCHEMA, include_in_schema=False)
    async def docs_schema() -> JSONResponse:
        schema = as_openapi_30(app.openapi())
        schema["openapi"] = "3.0.3"
        return JSONResponse(schema)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=DOCS_SCHEMA,
            title=f"{app.title} — API docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
