"""Liveness, readiness and metrics."""
from __future__ import annotations

from litestar import Controller, Request, Response, get

from datalake.lake import Lake

from ..auth import requires
from ..flight.observe import flight_exposition
from ..metrics import CONTENT_TYPE, Metrics
from ..problems import problem_responses
from ..structs import Health, Ready
from .params import ServicesDep


class HealthController(Controller):
    tags = ["operations"]

    @get("/healthz", sync_to_thread=False, responses=problem_responses(auth=False), **requires("public"))
    def healthz(self) -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @get("/readyz", sync_to_thread=True, responses=problem_responses(503, auth=False), **requires("public"))
    def readyz(self, svc: ServicesDep) -> Ready:
        """Readiness: the lake's record and its ingest records can be read now."""
        lake = Lake(svc.settings.lake)
        return Ready(status="ready", format_version=lake.info["version"], head_ingest=lake.head_ingest())

    # Metrics name routes and volumes, not data, but still need a read token (Prometheus can send one).
    @get("/metrics", sync_to_thread=False, media_type=CONTENT_TYPE, **requires("read"), responses=problem_responses())
    def metrics(self, request: Request) -> Response[str]:
        """Prometheus metrics: requests and latency by route, rows served by route and format;
        Flight calls, their time and rows by method."""
        metrics: Metrics = request.app.state.metrics
        flight = flight_exposition(request.app.state.settings.flight_metrics_file)
        return Response(metrics.exposition() + flight, media_type=CONTENT_TYPE)
