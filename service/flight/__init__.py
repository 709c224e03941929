"""Arrow Flight next to HTTP: JSON tickets over the same engine calls, run parts, and read-only Flight SQL."""
from .server import FlightService

__all__ = ["FlightService"]
