"""The Flight SQL catalog calls (GetCatalogs, GetDbSchemas, GetTables, GetTableTypes,
GetSqlInfo): the views a tool can browse, in the result schemas the protocol fixes."""
from __future__ import annotations

import duckdb
import pyarrow as pa

from datalake import sql as queries

from . import FlightSql_pb2 as pb

COMMANDS = ("CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables", "CommandGetTableTypes",
            "CommandGetSqlInfo")
TEXT = pa.utf8()
CATALOGS = pa.schema([pa.field("catalog_name", TEXT, nullable=False)])
SCHEMAS = pa.schema([pa.field("catalog_name", TEXT), pa.field("db_schema_name", TEXT, nullable=False)])
TABLES = pa.schema([pa.field("catalog_name", TEXT), pa.field("db_schema_name", TEXT),
                    pa.field("table_name", TEXT, nullable=False), pa.field("table_type", TEXT, nullable=False)])
TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), nullable=False))
TABLE_TYPES = pa.schema([pa.field("table_type", TEXT, nullable=False)])
_SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", TEXT), pa.field("bool_value", pa.bool_()), pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()), pa.field("string_list", pa.list_(TEXT)),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())))])
SQL_INFO = pa.schema([pa.field("info_name", pa.uint32(), nullable=False),
                      pa.field("value", _SQL_INFO_VALUE, nullable=False)])


def schema_of(message) -> pa.Schema:
    if isinstance(message, pb.CommandGetTables):
        return TABLES_WITH_SCHEMA if message.include_schema else TABLES
    return {"CommandGetCatalogs": CATALOGS, "CommandGetDbSchemas": SCHEMAS, "CommandGetTableTypes": TABLE_TYPES,
            "CommandGetSqlInfo": SQL_INFO}[type(message).__name__]


def answer(con: duckdb.DuckDBPyConnection, message) -> pa.Table:
    """The rows of a catalog call, from ``information_schema`` of the views' database."""
    if isinstance(message, pb.CommandGetCatalogs):
        catalog = con.sql(queries.query("session/current_database")).fetchall()[0][0]
        return pa.table({"catalog_name": [catalog]}, schema=CATALOGS)
    if isinstance(message, pb.CommandGetTableTypes):
        return pa.table({"table_type": ["TABLE", "VIEW"]}, schema=TABLE_TYPES)
    if isinstance(message, pb.CommandGetSqlInfo):
        return sql_info(message)
    catalog = message.catalog if message.HasField("catalog") else None
    schema_pattern = message.db_schema_filter_pattern if message.HasField("db_schema_filter_pattern") else None
    if isinstance(message, pb.CommandGetDbSchemas):
        rows = con.sql(queries.query("flightsql/schemas"), params=
                           {"catalog": catalog, "schema_pattern": schema_pattern}).to_arrow_table()
        return rows.cast(SCHEMAS)
    table_pattern = message.table_name_filter_pattern if message.HasField("table_name_filter_pattern") else None
    rows = con.sql(queries.query("flightsql/tables"), params={
        "catalog": catalog, "schema_pattern": schema_pattern, "table_pattern": table_pattern,
        "types": list(message.table_types) or None}).to_arrow_table().cast(TABLES)
    if not message.include_schema:
        return rows
    # Names come from information_schema above, never from the request.
    schemas = [con.table(f'"{s}"."{t}"').limit(0).to_arrow_table().schema.serialize().to_pybytes()
               for s, t in zip(rows["db_schema_name"].to_pylist(), rows["table_name"].to_pylist())]
    return rows.append_column(TABLES_WITH_SCHEMA.field("table_schema"), pa.array(schemas, pa.binary()))


# SqlInfo ids and values: the server's name and version, and that it is read-only.
_INFO = {pb.FLIGHT_SQL_SERVER_NAME: "meterlake", pb.FLIGHT_SQL_SERVER_VERSION: "1",
         pb.FLIGHT_SQL_SERVER_ARROW_VERSION: pa.__version__, pb.FLIGHT_SQL_SERVER_READ_ONLY: True,
         pb.FLIGHT_SQL_SERVER_SQL: True, pb.FLIGHT_SQL_SERVER_SUBSTRAIT: False,
         pb.FLIGHT_SQL_SERVER_CANCEL: False,
         pb.SQL_IDENTIFIER_QUOTE_CHAR: '"'}


def sql_info(message) -> pa.Table:
    wanted = list(message.info) or list(_INFO)
    ids, kinds, offsets = [], [], []
    children: dict[int, list] = {0: [], 1: [], 2: []}
    for info in wanted:
        if info not in _INFO:
            continue
        value = _INFO[info]
        kind = 1 if isinstance(value, bool) else 2 if isinstance(value, int) else 0
        ids.append(info)
        kinds.append(kind)
        offsets.append(len(children[kind]))
        children[kind].append(value)
    arrays = [pa.array(children[0], TEXT), pa.array(children[1], pa.bool_()), pa.array(children[2], pa.int64()),
              pa.array([], pa.int32()), pa.array([], pa.list_(TEXT)),
              pa.array([], pa.map_(pa.int32(), pa.list_(pa.int32())))]
    value = pa.UnionArray.from_dense(pa.array(kinds, pa.int8()), pa.array(offsets, pa.int32()), arrays,
                                     [f.name for f in _SQL_INFO_VALUE])
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), value], schema=SQL_INFO)
