"""The Litestar application factory."""
from __future__ import annotations

from litestar import Litestar, get

from datalake.lake import Lake

from .settings import Settings


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    lake = Lake(settings.lake)
    return Litestar(route_handlers=[healthz], state={"lake": lake, "settings": settings})
