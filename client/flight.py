"""The Python client's Flight transport: bulk reads by DoGet and run parts by DoPut, with the
same bearer token, and Flight errors raised as the client's ``ApiError``.

Like ``client``, it imports nothing from the server side (only pyarrow)."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.flight as flight

from .errors import ApiError

# Flight errors as the HTTP statuses of the same problems.
_STATUS = ((flight.FlightUnauthenticatedError, 401), (flight.FlightUnauthorizedError, 403),
           (flight.FlightTimedOutError, 504), (flight.FlightUnavailableError, 503),
           (pa.ArrowInvalid, 400), (pa.ArrowKeyError, 404))
# Errors that Flight has no status for come as FlightServerError; their code says which.
_CODE_STATUS = {"conflict": 409, "partial_run": 422}
_PROBLEM = re.compile(r"^(?P<code>[a-z_]+)(?: \(field (?P<field>[A-Za-z_]+)\))?: (?P<detail>.*?)(?:\. Detail: |\. gRPC |$)",
                      re.S)


class FlightTransport:
    """A Flight connection to ``location`` (``grpc://host:port`` or ``grpc+tls://``)."""

    def __init__(self, location: str, token: str | None, timeout: float) -> None:
        self.location = location
        self.client = flight.connect(location)
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        self.options = flight.FlightCallOptions(headers=headers, timeout=timeout)

    @staticmethod
    def location_of(base_url: str, port: int, tls: bool) -> str:
        """The Flight location on the HTTP server's host."""
        host = urlsplit(base_url).hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{'grpc+tls' if tls else 'grpc'}://{host}:{port}"

    def iter_batches(self, request: dict) -> Iterator[pa.RecordBatch]:
        """The record batches of a JSON ticket, as they arrive."""
        with errors():
            reader = self.client.do_get(flight.Ticket(json.dumps(request).encode()), options=self.options)
            for chunk in reader:
                yield chunk.data

    def put_part(self, run_id: str, part: int, table: pa.Table, source_name: str | None) -> dict:
        """Upload one run part; the part's entry of the run record."""
        fields: dict = {"run_id": run_id, "part": part}
        if source_name is not None:
            fields["source_name"] = source_name
        descriptor = flight.FlightDescriptor.for_command(json.dumps({"run_part": fields}))
        with errors():
            writer, metadata = self.client.do_put(descriptor, table.schema, options=self.options)
            with writer:
                writer.write_table(table)
                writer.done_writing()
                answer = metadata.read()
        return json.loads(answer.to_pybytes())

    def publish(self, run_id: str, *, allow_partial: bool = False, stage: str = "latest") -> dict:
        body = {"run_id": run_id, **({"allow_partial": True} if allow_partial else {}),
                **({"stage": stage} if stage != "latest" else {})}
        with errors():
            results = self.client.do_action(flight.Action("publish", json.dumps(body).encode()),
                                            options=self.options)
            return json.loads(next(iter(results)).body.to_pybytes())

    def close(self) -> None:
        self.client.close()


class errors:
    """Flight errors as ``ApiError`` (its status, code, field and detail)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or not isinstance(exc, (flight.FlightError, pa.ArrowException)):
            return False
        text = str(exc)
        match = _PROBLEM.match(text)
        status = next((s for k, s in _STATUS if isinstance(exc, k)), _CODE_STATUS.get(match and match["code"], 500))
        problem = {"code": match["code"], "detail": match["detail"].strip()} if match else {"detail": text}
        if match and match["field"]:
            problem["field"] = match["field"]
        raise ApiError(status, problem) from exc
