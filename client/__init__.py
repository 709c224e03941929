"""The Python client of meterlake's HTTP API (and its Arrow Flight door), for the algorithm and
scripts; it imports nothing from the server side.

    from client import MeterlakeClient
"""
from .errors import ApiError
from .http import MeterlakeClient

__all__ = ["ApiError", "MeterlakeClient"]
