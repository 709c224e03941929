"""What a request may ask of an endpoint, checked in one place for every route of the API
(a guard of the app, after ``check_scope``), before its parameters are parsed:

- every query parameter must be one the route declares (a typo such as ``directon=I``
  would otherwise be ignored and answer with more than was asked): else a 400
  ``invalid_argument`` naming it; ``format`` is understood by every endpoint;
- ``format=`` and ``Accept`` must name something the endpoint produces (its declared
  media type, or for tabular results the formats of its operation class): else a 406
  ``not_acceptable`` (``service.negotiation`` decides).

The routes the OpenAPI document leaves out (the reference pages under ``/schema`` and their
assets) are Litestar's and a browser's business, and are not checked."""
from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler

from datalake.errors import InvalidArgumentError

from .auth import is_automatic_options
from .negotiation import JSON_MEDIA_TYPE, MEDIA_TYPES, bare, choose

FORMAT = "format"
_QUERY: dict[object, tuple[str, ...]] = {}  # per handler function: the query parameters it declares


async def admit(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The guard: unknown query parameters are a 400, unproducible formats a 406."""
    if not isinstance(handler, HTTPRouteHandler) or is_automatic_options(handler) \
            or not handler.resolve_include_in_schema():
        return
    declared = query_parameters(handler, connection)
    unknown = [name for name in connection.query_params if name not in declared and name != FORMAT]
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        takes = ", ".join(declared) if declared else "no query parameters"
        raise InvalidArgumentError(f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names}: "
                                   f"{connection.scope['method']} {route_of(connection)} takes {takes}",
                                   field=unknown[0], value=connection.query_params.get(unknown[0]))
    choose(connection.query_params.get(FORMAT), connection.headers.get("accept"), offered(handler))


def query_parameters(handler: HTTPRouteHandler, connection: ASGIConnection) -> tuple[str, ...]:
    """The query parameters the handler declares (with those of its dependencies), in the
    order of its signature. Guards get a copy of the handler, so the cache is keyed by its
    function, which the copies share."""
    known = _QUERY.get(handler.fn)
    if known is None:
        model = handler.create_kwargs_model(path_parameters=dict.fromkeys(connection.path_params))  # type: ignore[arg-type]
        by_name = {p.field_name: p.field_alias for p in model.expected_query_params}
        order = [by_name.pop(name) for name in handler.parsed_fn_signature.parameters if name in by_name]
        known = _QUERY[handler.fn] = (*order, *sorted(by_name.values()))
    return known


def offered(handler: HTTPRouteHandler) -> list[str]:
    """The media types the handler's 200 can take: the formats of a tabular operation, else
    its one declared media type."""
    formats = getattr(handler.operation_class, "formats", None)
    if formats:
        return [MEDIA_TYPES[f] for f in formats]
    media = handler.media_type  # a MediaType, a string, or "" for a handler returning a Response
    return [bare(str(getattr(media, "value", media))) or JSON_MEDIA_TYPE]


def route_of(connection: ASGIConnection) -> str:
    return connection.scope.get("path_template") or connection.url.path  # type: ignore[return-value]
