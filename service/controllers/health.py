"""Liveness, readiness and metrics."""
from __future__ import annotations

from litestar import Controller, Request, Response, get

from datalake.lake import Lake

from ..metrics import CONTENT_TYPE, Metrics
from ..problems import problem_responses
from ..structs import Health, Ready
from .params import SettingsDep


class HealthController(Controller):
    tags = ["operations"]

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @get("/readyz", sync_to_thread=True, responses=problem_responses(503))
    def readyz(self, settings: SettingsDep) -> Ready:
        """Readiness: the lake's record and its ingest records can be read now."""
        lake = Lake(settings.lake)
        return Ready(status="ready", format_version=lake.info["version"], head_ingest=lake.head_ingest())

    @get("/metrics", sync_to_thread=False, media_type=CONTENT_TYPE)
    def metrics(self, request: Request) -> Response[str]:
        """Prometheus metrics: requests and latency by route, rows served by route and format."""
        metrics: Metrics = request.app.state.metrics
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)
