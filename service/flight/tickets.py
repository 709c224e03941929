"""JSON tickets: parsing and checking the requests a Flight ticket or command descriptor
carries, and opening the engine stream that answers each (the same calls as HTTP)."""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import pyarrow as pa

from datalake.raw.bulk import (BULK_READS_DICTIONARY_SCHEMA, BULK_READS_SCHEMA, MAX_SHARDS, BulkReads, parse_shard,
                               read_bulk)
from datalake.raw.bulkattributes import with_attribute_fields
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake, parse_date
from datalake.output.rows import OUTPUT_ROWS_SCHEMA, output_rows
from datalake.runs.aliases import resolve_run

from ..controllers.params import as_parameter, check_span
from ..database import Database
from ..settings import Settings
from .errors import InvalidTicketError

AS_OF_RE = re.compile(r"^ing-[0-9]{8}$")
RUN_RE = re.compile(r"^(latest|run-[0-9]{8})$")
SELECTOR_RE = re.compile(r"^(latest|run-[0-9]{8}|alias:[a-z][a-z0-9_-]{0,63})$")
MAX_TICKET_BYTES = 8_000


@dataclass(frozen=True)
class ReadsTicket:
    """``{"reads": {...}}``: the bulk raw reads of ``GET /v1/reads``."""

    start: str
    end: str
    direction: str | None = None
    as_of: str | None = None
    shard: str | None = None
    dictionary: bool = False
    fields: str | None = None  # "all", or None for the default

    def encode(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if v is not None and v is not False}
        return json.dumps({"reads": fields}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class OutputTicket:
    """``{"output": {...}}``: the output interval rows answering for start..end."""

    start: str
    end: str
    run: str = "latest"

    def encode(self) -> bytes:
        return json.dumps({"output": asdict(self)}, separators=(",", ":")).encode()


Ticket = ReadsTicket | OutputTicket
_KINDS = {"reads": ReadsTicket, "output": OutputTicket}


def parse(data: bytes, *, allow_shards: bool = False) -> tuple[Ticket, int | None]:
    """The request in ``data`` and, when ``allow_shards`` (a command descriptor), the
    number of shards asked for (``"shards": n``). Anything else is INVALID_ARGUMENT
    naming the field."""
    if len(data) > MAX_TICKET_BYTES:
        raise InvalidTicketError(f"a ticket is at most {MAX_TICKET_BYTES} bytes, got {len(data)}", field="ticket")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidTicketError(f"a ticket must be UTF-8 JSON: {e}", field="ticket") from None
    if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in _KINDS:
        raise InvalidTicketError('a ticket must be one object {"reads": {...}} or {"output": {...}}',
                                 field="ticket")
    kind, fields = next(iter(body.items()))
    if not isinstance(fields, dict):
        raise InvalidTicketError(f"{kind} must be an object of fields", field=kind)
    fields = dict(fields)
    shards = fields.pop("shards", None)
    if shards is not None and not (allow_shards and kind == "reads"):
        where = "a reads command descriptor (GetFlightInfo)" if kind == "reads" else "reads requests"
        raise InvalidArgumentError(f"shards is for {where} only", field="shards", value=shards)
    known = _KINDS[kind].__dataclass_fields__
    for name in fields:
        if name not in known:
            raise InvalidArgumentError(f"unknown field {name!r} of {kind}; known: {', '.join(known)}",
                                       field=name)
    for name in ("start", "end"):
        if name not in fields:
            raise InvalidArgumentError(f"{kind} needs {name} (a trading date, YYYY-MM-DD)", field=name)
    ticket = _check_reads(fields) if kind == "reads" else _check_output(fields)
    if shards is not None:
        if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
            raise InvalidArgumentError(f"shards must be an integer 1..{MAX_SHARDS}, got {shards!r}",
                                       field="shards", value=shards)
        if ticket.shard is not None:
            raise InvalidArgumentError("give shard or shards, not both", field="shards", value=shards)
    return ticket, shards


def _text(fields: dict, name: str, pattern: re.Pattern | None = None, what: str = "") -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
        raise InvalidArgumentError(f"{name} must be {what or 'text'}, got {value!r}", field=name, value=value)
    return value


def _date(fields: dict, name: str) -> str:
    value = _text(fields, name, what="a trading date as text, YYYY-MM-DD")
    return parse_date(value, name).isoformat()


def _check_reads(fields: dict) -> ReadsTicket:
    dictionary = fields.get("dictionary", False)
    if not isinstance(dictionary, bool):
        raise InvalidArgumentError(f"dictionary must be a JSON boolean, got {dictionary!r}", field="dictionary",
                                   value=dictionary)
    direction = _text(fields, "direction", re.compile(r"^[IX]$"), "I or X")
    shard = _text(fields, "shard", what="k/n")
    if shard is not None:
        parse_shard(shard)
    columns = _text(fields, "fields", re.compile(r"^(default|all)$"), "default or all")
    return ReadsTicket(_date(fields, "start"), _date(fields, "end"), direction,
                       _text(fields, "as_of", AS_OF_RE, "an ingest id, ing-NNNNNNNN"), shard, dictionary,
                       "all" if columns == "all" else None)


def _check_output(fields: dict) -> OutputTicket:
    run = _text(fields, "run", SELECTOR_RE, "latest, a run id (run-NNNNNNNN) or alias:NAME")
    return OutputTicket(_date(fields, "start"), _date(fields, "end"), run or "latest")


def schema_of(ticket: Ticket) -> pa.Schema:
    if isinstance(ticket, OutputTicket):
        return OUTPUT_ROWS_SCHEMA
    reads = BULK_READS_DICTIONARY_SCHEMA if ticket.dictionary else BULK_READS_SCHEMA
    return with_attribute_fields(reads) if ticket.fields == "all" else reads


def open_stream(lake: Lake, db: Database, settings: Settings, ticket: Ticket
                ) -> tuple[pa.Schema, Iterator[pa.RecordBatch], Ticket]:
    """The schema and batches answering ``ticket``, each batch made within the query
    timeout, and the ticket pinned to what answered (the raw snapshot read, for reads; the
    run an alias named, for output)."""
    start, end = dt.date.fromisoformat(ticket.start), dt.date.fromisoformat(ticket.end)
    if isinstance(ticket, ReadsTicket):
        check_span(start, end, settings.max_bulk_days, "the bulk stream")
        bulk = _read_bulk(lake, start, end, ticket)
        return bulk.schema, db.bounded(bulk.batches, None), replace(ticket, as_of=bulk.as_of)
    check_span(start, end, settings.max_output_days, "output queries")
    with as_parameter("run", ticket.run, "run_id"):
        run = resolve_run(lake, ticket.run)
        _, batches = output_rows(lake, start, end, run=run)
    return OUTPUT_ROWS_SCHEMA, db.bounded(batches, None), replace(ticket, run=run)


def _read_bulk(lake: Lake, start: dt.date, end: dt.date, ticket: ReadsTicket) -> BulkReads:
    """``read_bulk`` of the ticket. A ticket pinned to the snapshot that is still the newest
    (as GetFlightInfo pins each shard's) reads it as the newest: the same rows, without the
    ingest numbers that reading as of an older ingest needs (about twice the work). If a
    commit landed meanwhile, the pinned snapshot is read."""
    def read(as_of: str | None) -> BulkReads:
        with as_parameter("as_of", as_of, "ingest_id"):
            return read_bulk(lake, start, end, direction=ticket.direction, as_of=as_of, shard=ticket.shard,
                             dictionary=ticket.dictionary, attributes=ticket.fields == "all")

    if ticket.as_of is None or ticket.as_of != lake.head_ingest():
        return read(ticket.as_of)
    newest = read(None)
    if newest.as_of == ticket.as_of:
        return newest
    newest.close()
    return read(ticket.as_of)


def shard_tickets(ticket: ReadsTicket, n: int) -> list[ReadsTicket]:
    return [replace(ticket, shard=f"{k}/{n}") for k in range(n)]
