"""Arrow Flight next to HTTP: JSON tickets over the same engine calls, run parts, and read-only Flight SQL.

The server is ``service.flight.server.FlightService``; ``meterlake serve`` runs it in a
process of its own (``service.flight.process``)."""
