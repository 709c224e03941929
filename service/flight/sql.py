"""Flight SQL, read-only: one SELECT at a time over the analyst views at the lake's newest
commit, in a DuckDB database that can read nothing but the lake and whose configuration is
locked; statements, prepared statements with parameters, and the catalog calls.

The protocol messages are ``FlightSql_pb2``, generated from Apache Arrow's published
``FlightSql.proto`` (``make flightsql-proto``). Statement handles carry the statement text
itself, so a ticket needs no server state; prepared statements keep their bound parameters
here, a bounded number at a time."""
from __future__ import annotations

import collections
import secrets
import threading
from collections.abc import Iterator

import duckdb
import pyarrow as pa
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from datalake import sql as queries
from datalake import views
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake

from ..database import Watchdog
from ..settings import Settings
from . import FlightSql_pb2 as pb
from . import sqlcatalog
from .errors import InvalidTicketError

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
ACTIONS = ("CreatePreparedStatement", "ClosePreparedStatement")
MEMORY_LIMIT = "2GB"
THREADS = 2
BATCH_ROWS = 65_536
MAX_PREPARED = 1024


class ForbiddenStatementError(InvalidArgumentError):
    """A statement other than one SELECT, or one that reaches outside the lake."""

    code = "forbidden_statement"


def is_sql(data: bytes) -> bool:
    """Whether ``data`` is a Flight SQL message (a protobuf Any) rather than a JSON request."""
    return bool(data) and data.lstrip()[:1] != b"{"


def is_sql_action(name: str) -> bool:
    return name in ACTIONS


def unpack(data: bytes):
    """The Flight SQL command packed in ``data``."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError:
        wrapper.type_url = ""
    name = wrapper.type_url.removeprefix(TYPE_PREFIX)
    kind = getattr(pb, name, None) if wrapper.type_url.startswith(TYPE_PREFIX) else None
    if kind is None or not hasattr(kind, "DESCRIPTOR"):
        raise InvalidTicketError('a ticket or command must be JSON ({"reads": ...} or {"output": ...}) or a '
                                 f"Flight SQL command, not {wrapper.type_url or 'undecodable bytes'}",
                                 field="ticket")
    message = kind()
    wrapper.Unpack(message)
    return message


def pack(message) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper.SerializeToString()


class SqlService:
    def __init__(self, lake: Lake, settings: Settings) -> None:
        self.lake = lake
        self.timeout = settings.query_timeout
        self.watchdog = Watchdog()
        self._lock = threading.Lock()
        self._db: tuple[dict, duckdb.DuckDBPyConnection] | None = None
        self._prepared: collections.OrderedDict[bytes, dict] = collections.OrderedDict()

    # -- the database ----------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection to a locked-down database holding the views at the newest commit
        (rebuilt when a commit changed the files they read)."""
        snap = views.snapshot(self.lake)
        with self._lock:
            if self._db is None or self._db[0] != snap.lists:
                old, self._db = self._db, (snap.lists, _locked_database(self.lake, snap))
                if old is not None:
                    old[1].close()
            return self._db[1].cursor()

    def run(self, query: str, params: list | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The result of one SELECT, batch by batch, each within the query timeout."""
        check_statement(query)
        con = self.cursor()
        try:
            with self.watchdog.deadline(con, self.timeout), duckdb_errors():
                reader = con.sql(query, params=params or None).to_arrow_reader(BATCH_ROWS)
        except BaseException:
            con.close()
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in self.watchdog.bounded(_read(reader), con, self.timeout):
                    yield batch
            finally:
                con.close()

        return reader.schema, batches()

    def schema(self, query: str, params: list | None = None) -> pa.Schema:
        check_statement(query)
        con = self.cursor()
        try:
            with self.watchdog.deadline(con, self.timeout), duckdb_errors():
                rel = con.sql(query, params=params or None)
                return rel.limit(0).to_arrow_table().schema if rel is not None else pa.schema([])
        finally:
            con.close()

    # -- Flight methods --------------------------------------------------------------

    def flight_info(self, descriptor, command: bytes):
        import pyarrow.flight as flight

        message = unpack(command)
        if isinstance(message, pb.CommandStatementQuery):
            schema = self.schema(message.query)
            ticket = pack(pb.TicketStatementQuery(statement_handle=message.query.encode()))
        elif isinstance(message, pb.CommandPreparedStatementQuery):
            state = self._state(message.prepared_statement_handle)
            schema = self.schema(state["query"], state["params"])
            ticket = command
        elif type(message).__name__ in sqlcatalog.COMMANDS:
            schema, ticket = sqlcatalog.schema_of(message), command
        else:
            raise ForbiddenStatementError(f"{type(message).__name__} is not supported: this Flight SQL "
                                          "service is read-only", field="command")
        return flight.FlightInfo(schema, descriptor, [flight.FlightEndpoint(ticket, [])], -1, -1)

    def do_get(self, data: bytes) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        message = unpack(data)
        if isinstance(message, pb.TicketStatementQuery):
            return self.run(message.statement_handle.decode("utf-8", errors="replace"), None)
        if isinstance(message, pb.CommandPreparedStatementQuery):
            state = self._state(message.prepared_statement_handle)
            return self.run(state["query"], state["params"])
        if type(message).__name__ in sqlcatalog.COMMANDS:
            con = self.cursor()
            try:
                table = sqlcatalog.answer(con, message)
            finally:
                con.close()
            return table.schema, iter(table.to_batches())
        raise InvalidTicketError(f"{type(message).__name__} is not a ticket", field="ticket")

    def do_put(self, command: bytes, reader) -> bytes | None:
        """Parameters for a prepared statement (one row); any update is refused."""
        message = unpack(command)
        if not isinstance(message, pb.CommandPreparedStatementQuery):
            raise ForbiddenStatementError(f"{type(message).__name__} is refused: this Flight SQL service is "
                                          "read-only (SELECT only)", field="command")
        state = self._state(message.prepared_statement_handle)
        rows = reader.read_all().to_pylist()
        if len(rows) > 1:
            raise InvalidArgumentError(f"bind one row of parameters, got {len(rows)}", field="parameters")
        state["params"] = list(rows[0].values()) if rows else None
        result = pb.DoPutPreparedStatementResult(prepared_statement_handle=message.prepared_statement_handle)
        return result.SerializeToString()

    def do_action(self, name: str, body: bytes) -> list[bytes]:
        if name == "CreatePreparedStatement":
            request = unpack(body)
            if not isinstance(request, pb.ActionCreatePreparedStatementRequest):
                raise InvalidTicketError("CreatePreparedStatement needs an ActionCreatePreparedStatementRequest",
                                         field="action")
            check_statement(request.query)
            schema = self._prepared_schema(request.query)
            handle = secrets.token_bytes(16)
            with self._lock:
                self._prepared[handle] = {"query": request.query, "params": None}
                while len(self._prepared) > MAX_PREPARED:
                    self._prepared.popitem(last=False)
            result = pb.ActionCreatePreparedStatementResult(
                prepared_statement_handle=handle, dataset_schema=schema.serialize().to_pybytes(),
                parameter_schema=b"")
            return [pack(result)]
        request = unpack(body)
        if isinstance(request, pb.ActionClosePreparedStatementRequest):
            with self._lock:
                self._prepared.pop(request.prepared_statement_handle, None)
        return []

    def _prepared_schema(self, query: str) -> pa.Schema:
        """The result schema of a statement with parameters, found with each bound to NULL
        (empty when that does not tell)."""
        names = _parameters(query)
        if not names:
            return self.schema(query, None)
        params = [None] * len(names) if all(n.isdigit() for n in names) else dict.fromkeys(names)
        try:
            return self.schema(query, params)
        except InvalidArgumentError:
            return pa.schema([])

    def _state(self, handle: bytes) -> dict:
        with self._lock:
            state = self._prepared.get(handle)
        if state is None:
            raise InvalidArgumentError("no such prepared statement (closed, or the server restarted)",
                                       field="prepared_statement_handle")
        return state


def check_statement(query: str) -> None:
    """Exactly one SELECT: nothing that writes, copies, attaches, installs, loads or sets."""
    try:
        statements = duckdb.connect().extract_statements(query)
    except duckdb.Error as e:
        raise InvalidArgumentError(f"the statement does not parse: {e}", field="query") from None
    if len(statements) != 1:
        raise ForbiddenStatementError(f"send exactly one statement, got {len(statements)}", field="query")
    kind = str(statements[0].type).rsplit(".", 1)[-1]
    if kind != "SELECT":
        raise ForbiddenStatementError(f"only SELECT statements are allowed, not {kind}: this service is read-only",
                                      field="query")


def _parameters(query: str) -> set[str]:
    return duckdb.connect().extract_statements(query)[0].named_parameters


class duckdb_errors:
    """DuckDB errors as the caller's: a permission error is a forbidden statement, an
    interrupt a query timeout, any other an invalid statement."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or not isinstance(exc, duckdb.Error) or isinstance(exc, duckdb.InterruptException):
            return False
        if isinstance(exc, duckdb.PermissionException):
            raise ForbiddenStatementError(f"refused: {exc} (only the lake's views can be read)",
                                          field="query") from None
        raise InvalidArgumentError(f"the statement failed: {exc}", field="query") from None


def _read(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    with duckdb_errors():
        yield from reader


def _locked_database(lake: Lake, snap: views.Snapshot) -> duckdb.DuckDBPyConnection:
    """A new in-memory database with the views over ``snap``, then locked: no file outside
    the lake, no extensions, no Python objects as tables, and no settings changed."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "memory_limit": MEMORY_LIMIT, "threads": THREADS})
    try:
        con.execute(queries.query("session/no_replacements"))
        con.execute(queries.query("session/utc"))
        con.execute(queries.query("session/allowed_directories"), {"dirs": [str(lake.root) + "/"]})
        con.execute(queries.query("session/no_external_access"))
        for statement in views.statements(snap):
            con.execute(statement)
        con.execute(queries.query("session/lock_configuration"))
    except BaseException:
        con.close()
        raise
    return con


__all__ = ["ACTIONS", "ForbiddenStatementError", "SqlService", "check_statement", "is_sql"]
