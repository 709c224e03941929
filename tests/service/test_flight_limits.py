"""Flight over TLS with the certificate `serve --tls-cert/--tls-key` takes, and a Flight SQL
statement stopped at the query timeout."""
from __future__ import annotations

import datetime as dt
import subprocess
import threading

import pyarrow.flight as flight
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from service.flight import FlightSql_pb2 as pb
from service.flight.server import FlightService
from service.flight.sql import pack
from service.settings import Settings

from .flightserver import serve_flight


@pytest.fixture
def tiny_lake(tmp_path) -> Lake:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=1)
    return lake


def test_flight_over_tls(tiny_lake, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = FlightService(Settings(lake=str(tiny_lake.root)), "grpc+tls://127.0.0.1:0",
                           tls_certificates=[(cert.read_bytes(), key.read_bytes())])
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        ticket = flight.Ticket(b'{"reads": {"start": "2018-06-01", "end": "2018-06-01"}}')
        secure = flight.connect(f"grpc+tls://127.0.0.1:{server.port}", tls_root_certs=cert.read_bytes())
        assert secure.do_get(ticket).read_all().num_rows >= 2 * 48
        with pytest.raises(flight.FlightUnavailableError):
            flight.connect(f"grpc://127.0.0.1:{server.port}").do_get(ticket, options=flight.FlightCallOptions(
                timeout=5)).read_all()
    finally:
        server.shutdown()
        thread.join(timeout=20)


def test_a_statement_past_the_query_timeout_is_deadline_exceeded(tiny_lake):
    with serve_flight(tiny_lake.root, query_timeout=0.3) as server:
        c = flight.connect(f"grpc://127.0.0.1:{server.port}")
        command = pack(pb.CommandStatementQuery(query="SELECT count(*) FROM range(100000000000) AS a"))
        info = c.get_flight_info(flight.FlightDescriptor.for_command(command))
        with pytest.raises(flight.FlightTimedOutError, match="query_timeout"):
            c.do_get(info.endpoints[0].ticket).read_all()
        quick = pack(pb.CommandStatementQuery(query="SELECT count(*) AS n FROM raw_reads"))
        info = c.get_flight_info(flight.FlightDescriptor.for_command(quick))
        assert c.do_get(info.endpoints[0].ticket).read_all()["n"].to_pylist()[0] >= 96
