"""The operator's pages at ``/ui/``: server-rendered, read-only HTML over the same engine calls as
the JSON API, behind a session cookie when tokens are configured (docs/ui.md)."""
from .routes import ui_router

__all__ = ["ui_router"]
