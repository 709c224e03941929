"""The client moved to the top-level package ``client``; this name re-exports it for one release."""
from client import ApiError, MeterlakeClient

__all__ = ["ApiError", "MeterlakeClient"]
