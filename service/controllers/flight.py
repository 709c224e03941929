"""Where the Flight service of this server listens, for clients that find it from HTTP."""
from __future__ import annotations

import msgspec
from litestar import Controller, get

from datalake.errors import NotFoundError

from ..auth import requires
from ..problems import problem_responses
from .params import ServicesDep


class FlightEndpoint(msgspec.Struct):
    """The Flight port on this server's host, and whether it speaks TLS (grpc+tls)."""

    port: int
    tls: bool


class FlightController(Controller):
    tags = ["operations"]

    @get("/v1/flight", sync_to_thread=False, responses=problem_responses(404), **requires("read"))
    def flight(self, svc: ServicesDep) -> FlightEndpoint:
        """The Arrow Flight and Flight SQL port of this server (same host, same tokens). 404
        when `serve` runs without Flight (`--flight-port 0`)."""
        if not svc.settings.flight_port:
            raise NotFoundError("this server runs without Flight (--flight-port 0)", field="flight")
        return FlightEndpoint(port=svc.settings.flight_port, tls=svc.settings.flight_tls)
