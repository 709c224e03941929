"""The Flight server: JSON tickets for raw reads and output (DoGet, GetFlightInfo), run parts
(DoPut) and publish (DoAction), and Flight SQL commands handed to ``sql``; each method
checks the caller's scope, then calls the same engine functions as HTTP."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc

from datalake import runs
from datalake.errors import InvalidArgumentError, MeterlakeError
from datalake.lake import Lake

from ..database import Database
from ..problems import PayloadTooLargeError
from ..settings import Settings
from . import sql, tickets
from .auth import MIDDLEWARE, AuthFactory, Caller, require
from .errors import InvalidTicketError, answers, to_flight
from .observe import Observer

ACTIONS = {"publish": ('publish an open run: body {"run_id": "run-00000003"} (and "allow_partial": true to '
                       'publish a partial run, "stage": "candidate" to publish it as a candidate); the run record '
                       'as JSON', "write")}


class FlightService(flight.FlightServerBase):
    def __init__(self, settings: Settings, location: str = "grpc://127.0.0.1:0", *,
                 observer: Observer | None = None, tls_certificates: list | None = None) -> None:
        self.settings = settings
        self.lake = Lake(settings.lake)
        self.db = Database(settings.query_timeout)
        self.observer = observer or Observer()
        self.sql = sql.SqlService(self.lake, settings)
        super().__init__(location, middleware={MIDDLEWARE: AuthFactory(settings.tokens, self.observer)},
                         tls_certificates=tls_certificates or [])

    # -- reads and output ------------------------------------------------------------

    @answers
    def get_flight_info(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
                        ) -> flight.FlightInfo:
        command = _command(descriptor)
        if sql.is_sql(command):
            require(context, "read", "flight sql")
            return self.sql.flight_info(descriptor, command)
        ticket, shards = tickets.parse(command, allow_shards=True)
        require(context, "read", _describe(ticket))
        schema, batches, pinned = tickets.open_stream(self.lake, self.db, self.settings, ticket)
        batches.close()
        parts = tickets.shard_tickets(pinned, shards) if shards else [pinned]
        endpoints = [flight.FlightEndpoint(t.encode(), []) for t in parts]
        return flight.FlightInfo(schema, descriptor, endpoints, -1, -1)

    def get_schema(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
                   ) -> flight.SchemaResult:
        return flight.SchemaResult(self.get_flight_info(context, descriptor).schema)

    @answers
    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        data = ticket.ticket
        if sql.is_sql(data):
            caller = require(context, "read", "flight sql")
            schema, batches = self.sql.do_get(data)
            return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(schema, _counted(caller, batches)))
        parsed, _ = tickets.parse(data)
        caller = require(context, "read", _describe(parsed))
        schema, batches, _ = tickets.open_stream(self.lake, self.db, self.settings, parsed)
        return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(schema, _counted(caller, batches)))

    # -- run parts and actions -------------------------------------------------------

    @answers
    def do_put(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor,
               reader: flight.MetadataRecordBatchReader, writer: flight.FlightMetadataWriter) -> None:
        command = _command(descriptor)
        if sql.is_sql(command):
            require(context, "read", "flight sql")
            result = self.sql.do_put(command, reader)
            if result is not None:
                writer.write(pa.py_buffer(result))
            return
        run_id, part, source_name = _run_part(command)
        caller = require(context, "write", f"run_part {run_id} part {part}")
        with self.lake.staging() as work:
            path = work / "upload.arrow"
            caller.rows = _receive(reader, path, self.settings.max_upload_bytes)
            entry = runs.upload_part(self.lake, run_id, part, path, fmt="arrow", actor=caller.name,
                                     source_name=source_name or f"part {part}")
        writer.write(pa.py_buffer(json.dumps(entry, default=str).encode()))

    @answers
    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[flight.Result]:
        if sql.is_sql_action(action.type):
            require(context, "read", f"flight sql {action.type}")
            results = self.sql.do_action(action.type, action.body.to_pybytes())
            return iter([flight.Result(pa.py_buffer(r)) for r in results])
        if action.type not in ACTIONS:
            raise InvalidArgumentError(f"unknown action {action.type!r}; known: {', '.join([*ACTIONS, *sql.ACTIONS])}",
                                       field="action")
        run_id, allow_partial, stage = _publish_body(action.body.to_pybytes())
        caller = require(context, ACTIONS[action.type][1], f"{action.type} {run_id}")
        record = runs.publish_run(self.lake, run_id, actor=caller.name, allow_partial=allow_partial, stage=stage)
        return iter([flight.Result(pa.py_buffer(json.dumps(record, default=str).encode()))])

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        require(context, "read", "list actions")
        return [(name, doc) for name, (doc, _) in ACTIONS.items()] + [(a, "Flight SQL") for a in sql.ACTIONS]

    def shutdown(self) -> None:
        super().shutdown()
        self.db.close()


def _command(descriptor: flight.FlightDescriptor) -> bytes:
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        raise InvalidTicketError("the descriptor must be a command (the request's JSON)", field="descriptor")
    return descriptor.command


def _describe(ticket: tickets.Ticket) -> str:
    kind = "reads" if isinstance(ticket, tickets.ReadsTicket) else "output"
    return f"{kind} {ticket.start}..{ticket.end}"


def _counted(caller: Caller, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, counted for the metrics; an engine error part-way ends the stream with
    its Flight error."""
    try:
        for batch in batches:
            caller.rows += batch.num_rows
            yield batch
    except MeterlakeError as e:
        raise to_flight(e) from None
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()


def _json_object(data: bytes, kind: str) -> dict:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidTicketError(f"the {kind} must be UTF-8 JSON: {e}", field=kind) from None
    if not isinstance(body, dict):
        raise InvalidTicketError(f"the {kind} must be a JSON object", field=kind)
    return body


def _run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not tickets.RUN_RE.match(run_id) or run_id == "latest":
        raise InvalidArgumentError(f"run_id must be a run id, run-NNNNNNNN, got {run_id!r}", field="run_id",
                                   value=run_id)
    return run_id


def _publish_body(data: bytes) -> tuple[str, bool, str]:
    """``{"run_id": "run-NNNNNNNN"[, "allow_partial": true][, "stage": "candidate"]}``."""
    body = _json_object(data, "action body")
    run_id, allow_partial = _run_id(body.get("run_id")), body.get("allow_partial", False)
    if not isinstance(allow_partial, bool):
        raise InvalidArgumentError(f"allow_partial must be a JSON boolean, got {allow_partial!r}",
                                   field="allow_partial", value=allow_partial)
    stage = body.get("stage", "latest")
    if stage not in runs.STAGES:
        raise InvalidArgumentError(f"stage must be one of {', '.join(runs.STAGES)}, got {stage!r}",
                                   field="stage", value=stage)
    return run_id, allow_partial, stage


def _run_part(command: bytes) -> tuple[str, int, str | None]:
    """``{"run_part": {"run_id": ..., "part": n}}`` (parts numbered from 1, as over HTTP)."""
    body = _json_object(command, "descriptor")
    fields = body.get("run_part")
    if len(body) != 1 or not isinstance(fields, dict):
        raise InvalidTicketError('a DoPut descriptor must be {"run_part": {"run_id": ..., "part": n}}',
                                 field="descriptor")
    unknown = set(fields) - {"run_id", "part", "source_name"}
    if unknown:
        raise InvalidArgumentError(f"unknown field {sorted(unknown)[0]!r} of run_part", field=sorted(unknown)[0])
    run_id = _run_id(fields.get("run_id"))
    part = fields.get("part")
    if isinstance(part, bool) or not isinstance(part, int) or not 1 <= part <= 99_999:
        raise InvalidArgumentError(f"part must be an integer 1..99999, got {part!r}", field="part", value=part)
    source_name = fields.get("source_name")
    if source_name is not None and (not isinstance(source_name, str) or len(source_name) > 200):
        raise InvalidArgumentError("source_name must be text of at most 200 characters", field="source_name")
    return run_id, part, source_name


def _receive(reader: flight.MetadataRecordBatchReader, path, max_bytes: int) -> int:
    """The uploaded stream written to ``path`` as Arrow IPC, at most ``max_bytes`` of
    batches; returns its row count."""
    rows = size = 0
    with open(path, "wb") as f, ipc.new_stream(f, reader.schema) as out:
        for chunk in reader:
            if chunk.data is None:
                continue
            size += chunk.data.nbytes
            if size > max_bytes:
                raise PayloadTooLargeError(f"a part is at most {max_bytes:,} bytes of batches; nothing was written",
                                           field="body", value=size)
            rows += chunk.data.num_rows
            out.write_batch(chunk.data)
    return rows
