"""The Litestar application factory: wires settings, the lake, DuckDB, error mapping,
metrics and the controllers together. Everything HTTP-specific lives in ``service``; the
engine is ``datalake``."""
from __future__ import annotations

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide

from datalake.lake import Lake
from datalake.raw.reads import warm_up

from .admission import admit
from .auth import actor_of, audit, check_scope
from .controllers.aliases import AliasesController
from .controllers.changes import ChangesController
from .controllers.flight import FlightController
from .controllers.health import HealthController
from .controllers.params import Services
from .controllers.output import OutputController
from .controllers.quality import QualityController
from .controllers.reads import ReadsController
from .controllers.review import ReviewController
from .controllers.runs import RunsController
from .database import Database
from .metrics import Metrics, metrics_middleware
from .openapi import openapi_config
from .problems import EXCEPTION_HANDLERS
from .settings import Settings
from .ui import ui_router


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    lake = Lake(settings.lake)
    db = Database(settings.query_timeout)
    services = Services(lake, db, settings)
    return Litestar(
        route_handlers=[HealthController, ReadsController, ChangesController, RunsController, ReviewController,
                         AliasesController, OutputController, QualityController, FlightController, ui_router()],
        dependencies={
            "svc": Provide(lambda: services, use_cache=True, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
        },
        guards=[check_scope, admit],  # who may ask, then what may be asked
        before_send=[audit],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[metrics_middleware],
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_upload_bytes,
        state=State({"metrics": Metrics(), "settings": settings, "lake": lake}),
        on_startup=[lambda: warm_up(lake)],  # the first requests are then as fast as the rest
        on_shutdown=[db.close],
    )


def provide_actor(request: Request) -> str:
    """The caller's name for the records and the log: the token's name (see ``service.auth``)."""
    return actor_of(request.scope)
