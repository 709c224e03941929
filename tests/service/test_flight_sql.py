"""Flight SQL through the ADBC driver, as analysts' tools connect: statements, prepared
statements with parameters and the catalog over the analyst views at the newest commit;
anything but one SELECT inside the lake refused, and the lake left as it was."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import adbc_driver_flightsql.dbapi as dbapi
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from datalake import sql
from datalake import views
from datalake.demo.generate import generate
from datalake.lake import Lake
from service.auth import Token, TokenStore, hash_token
from service.flight import FlightSql_pb2 as pb
from service.flight.sql import pack

from .flightserver import client, flight_lake, flight_server, serve_flight  # noqa: F401 - fixtures


def connect(server, token: str | None = None):
    kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {token}"} if token else {}
    return dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs=kwargs, autocommit=True)


def view_count(lake: Lake, query: str) -> int:
    con = sql.connect()
    views.define_views(con, lake)
    try:
        return con.sql(query).fetchall()[0][0]
    finally:
        con.close()


def test_statements_and_prepared_statements_read_the_views(flight_server, flight_lake):
    with connect(flight_server) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw_reads")
        assert cur.fetchall() == [(view_count(flight_lake, "SELECT count(*) FROM raw_reads"),)]
        cur.execute("select icp_id, count(*) AS n from raw_reads where read_date = ? group by icp_id "
                    "order by icp_id", parameters=["2018-06-02"])
        rows = cur.fetchall()
        assert len(rows) == 40 and all(n in (48, 96) for _, n in rows)
        cur.execute("select count(*) from output_latest where buyer_seller = $1", parameters=["buyer"])
        assert cur.fetchall()[0][0] == view_count(
            flight_lake, "SELECT count(*) FROM output_latest WHERE buyer_seller = 'buyer'") > 0


def test_a_statement_query_without_preparing(flight_server):
    c = client(flight_server)
    command = pack(pb.CommandStatementQuery(query="select count(*) AS n, min(read_date) AS first from raw_reads"))
    info = c.get_flight_info(flight.FlightDescriptor.for_command(command))
    assert info.schema.names == ["n", "first"]
    table = c.do_get(info.endpoints[0].ticket).read_all()
    assert table.to_pylist()[0]["first"] == dt.date(2018, 6, 1)


def test_the_catalog_lists_the_views(flight_server):
    with connect(flight_server) as conn:
        objects = conn.adbc_get_objects().read_all().to_pylist()
        tables = {t["table_name"]: t for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]}
        assert {"raw_reads", "raw_reads_all_revisions", "output_latest", "output_all", "runs", "ingests"} <= set(tables)
        assert tables["raw_reads"]["table_type"] == "VIEW"
        columns = [c["column_name"] for c in tables["output_latest"]["table_columns"]]
        assert columns[:3] == ["run_id", "read_date", "icp_id"]
        schema = conn.adbc_get_table_schema("raw_reads")
        assert schema.field("interval_read").type == pa.decimal128(18, 3)
        assert conn.adbc_get_table_types() == ["TABLE", "VIEW"]


FORBIDDEN = [
    "COPY (SELECT * FROM raw_reads) TO '/tmp/meterlake-flight-copy.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "ATTACH '/tmp/meterlake-flight-attach.db' AS other",
    "SET threads = 1",
    "SET enable_external_access = true",
    "CREATE TABLE t AS SELECT 1",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT 1; SELECT 2",
    "PRAGMA version",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_a_forbidden_statement_is_refused_and_changes_nothing(flight_server, flight_lake, statement):
    before = sorted(flight_lake.root.rglob("*"))
    with connect(flight_server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError,
                           match=r"INVALID_ARGUMENT: \[FlightSQL\] forbidden_statement \(field query\)"):
            cur.execute(statement)
        cur.execute("select current_setting('enable_external_access'), current_setting('lock_configuration'), "
                    "current_setting('threads')")
        assert cur.fetchall() == [(False, True, 2)]
    assert sorted(flight_lake.root.rglob("*")) == before
    assert not Path("/tmp/meterlake-flight-copy.csv").exists()
    assert not Path("/tmp/meterlake-flight-attach.db").exists()


def test_a_statement_sees_the_newest_commit(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=3, days=1, start=dt.date(2018, 6, 1), seed=1)
    with serve_flight(lake.root) as server, connect(server) as conn, conn.cursor() as cur:
        cur.execute("select count(distinct read_date) from raw_reads")
        assert cur.fetchall() == [(1,)]
        generate(lake, icps=3, days=1, start=dt.date(2018, 6, 2), seed=1)
        cur.execute("select count(distinct read_date) from raw_reads")
        assert cur.fetchall() == [(2,)]


def test_flight_sql_takes_the_bearer_token_and_its_scope(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=1)
    tokens = TokenStore([Token("analyst", "read", hash_token("analyst-secret-0123456789"))])
    with serve_flight(lake.root, tokens=tokens) as server:
        with connect(server, "analyst-secret-0123456789") as conn, conn.cursor() as cur:
            cur.execute("select count(*) from raw_reads")
            assert cur.fetchall()[0][0] > 0
        for token in (None, "wrong-secret"):
            with pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED"):
                with connect(server, token) as conn, conn.cursor() as cur:
                    cur.execute("select 1")
