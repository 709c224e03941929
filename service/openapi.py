"""OpenAPI details Litestar cannot infer from a handler's signature: the CSV and Arrow
representations a tabular endpoint also returns, and the raw body an upload endpoint
streams (it is read as a stream, so it is not a typed ``data`` parameter); and the API
reference pages, whose scripts and styles the app serves itself (``service/assets``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.static_files import create_static_files_router

from .auth import SECURITY_SCHEMES, requires
from .negotiation import ARROW_MEDIA_TYPE, CSV_MEDIA_TYPE, STREAMED, TABULAR, Format

ARROW_CONTENT = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format="binary",
                                               description="Arrow IPC stream of record batches"))
CSV_CONTENT = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING,
                                             description="CSV with a header line; values rendered as in JSON"))
UPLOAD_TYPES = ("text/csv", "application/vnd.apache.parquet", ARROW_MEDIA_TYPE,
                "application/vnd.apache.arrow.file", "application/octet-stream")


@dataclass
class TabularOperation(Operation):
    """A 200 that is JSON, CSV or Arrow (``format=`` or ``Accept``)."""

    formats: ClassVar[tuple[Format, ...]] = TABULAR  # what ``service.admission`` lets a request ask for

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if ok is not None:
            ok.content = {**(ok.content or {}), CSV_MEDIA_TYPE: CSV_CONTENT, ARROW_MEDIA_TYPE: ARROW_CONTENT}


@dataclass
class StreamOperation(Operation):
    """A 200 streamed as Arrow IPC (the default) or CSV."""

    formats: ClassVar[tuple[Format, ...]] = STREAMED

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if ok is not None:
            ok.content = {ARROW_MEDIA_TYPE: ARROW_CONTENT, CSV_MEDIA_TYPE: CSV_CONTENT}


@dataclass
class UploadOperation(Operation):
    """A request body of raw bytes: CSV, Parquet or Arrow IPC (stream or file)."""

    def __post_init__(self) -> None:
        binary = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format="binary"))
        self.request_body = RequestBody(
            required=True, description="The file: CSV in the brief's format, Parquet, or Arrow IPC. "
                                       "The format is taken from Content-Type, else from the content.",
            content={t: binary for t in UPLOAD_TYPES})


@dataclass
class ReadsUploadOperation(UploadOperation):
    """A raw delivery: also an EIEP3 or EIEP13A file (docs/eiep.md)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        text = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
        self.request_body.description += (" EIEP3 and EIEP13A files as text/x-eiep3 and text/x-eiep13a "
                                           "(or detected from their header record).")
        self.request_body.content.update({"text/x-eiep3": text, "text/x-eiep13a": text})


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="meterlake", version="1.0.0", path="/schema",
        description="Half-hourly meter reads and matching-algorithm output. Dates are trading dates "
                    "(start and end inclusive); decimals are strings with their fixed scale; instants are "
                    "ISO 8601 with their offset. Errors are RFC 9457 problem details with a stable `code`. "
                    "Each operation names the token scope it needs (bearer: read, write or admin; admin implies "
                    "write implies read); a server without tokens serves loopback clients only.",
        components=Components(security_schemes=SECURITY_SCHEMES),
        # The OpenAPI document and its viewers are public: they describe the API, not the data.
        openapi_router=Router("/schema", route_handlers=[assets_router()], include_in_schema=False,
                              **requires("public")),
        render_plugins=render_plugins(),
        use_handler_docstrings=True,
    )


ASSETS = Path(__file__).parent / "assets"
ASSETS_URL = "/schema/assets"
# No favicon request either: an empty data URL.
NO_FAVICON = "<link rel='icon' href='data:,'>"
# Scalar's defaults reach its own hosts: fonts, telemetry, a request proxy, an AI agent.
SCALAR_OPTIONS = {"withDefaultFonts": False, "telemetry": False, "proxyUrl": "", "agent": {"disabled": True},
                  "showDeveloperTools": "never"}


def render_plugins() -> list[ScalarRenderPlugin | SwaggerRenderPlugin]:
    """Scalar at /schema and Swagger UI at /schema/swagger, from the files in ``ASSETS``."""
    return [ScalarRenderPlugin(js_url=f"{ASSETS_URL}/scalar-api-reference-1.76.0.js",
                               css_url=f"{ASSETS_URL}/scalar.css", favicon=NO_FAVICON, options=SCALAR_OPTIONS),
            SwaggerRenderPlugin(path="/swagger", js_url=f"{ASSETS_URL}/swagger-ui-bundle-5.35.0.js",
                                css_url=f"{ASSETS_URL}/swagger-ui-5.35.0.css",
                                standalone_preset_js_url=f"{ASSETS_URL}/swagger-ui-standalone-preset-5.35.0.js",
                                favicon=NO_FAVICON)]


def assets_router() -> Router:
    """The pages' files under /schema/assets (the name of each carries its version, so a
    browser may keep it a day)."""
    return create_static_files_router(path="/assets", directories=[ASSETS], include_in_schema=False,
                                      cache_control=CacheControlHeader(max_age=86_400, public=True),
                                      name="schema_assets")


def not_modified_response() -> dict[int, ResponseSpec]:
    """The 304 of an endpoint with a strong ETag."""
    return {304: ResponseSpec(data_container=None, generate_examples=False,
                              description="Not modified: If-None-Match names the current ETag (no body)")}
