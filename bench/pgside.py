"""PostgreSQL side of the benchmark: a private cluster on loopback, the same raw reads and
output loaded with COPY into indexed tables, and queries 1, 2 and 4 answered the way a
Python service in front of PostgreSQL would (psycopg fetch, then the same JSON or Arrow
encoding our service does, in-process: no HTTP hop is charged to PostgreSQL).

The cluster lives in a temporary folder, listens on 127.0.0.1 only and is stopped and
removed by ``PgCluster.stop``."""
from __future__ import annotations

import datetime as dt
import io
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pyarrow as pa
import pyarrow.ipc as ipc

NZ = ZoneInfo("Pacific/Auckland")
PG_BIN = Path("/usr/lib/postgresql/15/bin")

# Settings a careful engineer gives a load-then-query database on a 23 GB, 2-core machine:
# WAL skipped for COPY into a table created in the same transaction (wal_level=minimal).
SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1", "shared_buffers": "2GB", "maintenance_work_mem": "1GB",
    "work_mem": "64MB", "max_wal_size": "16GB", "wal_level": "minimal", "max_wal_senders": "0",
    "effective_cache_size": "12GB", "random_page_cost": "1.1", "jit": "off",
}

RAW_DDL = """
CREATE TABLE raw_reads (
    icp_id text NOT NULL,
    read_timestamp timestamptz NOT NULL,
    energy_flow_direction text NOT NULL CHECK (energy_flow_direction IN ('I', 'X')),
    interval_read numeric(18, 3) NOT NULL CHECK (interval_read >= 0)
)"""
RAW_INDEX = "ALTER TABLE raw_reads ADD PRIMARY KEY (icp_id, read_timestamp, energy_flow_direction)"
OUTPUT_DDL = """
CREATE TABLE output (
    run_id text NOT NULL,
    icp_id text NOT NULL,
    read_date date NOT NULL,
    trading_period smallint NOT NULL,
    read_time text NOT NULL,
    buyer_seller text NOT NULL CHECK (buyer_seller IN ('buyer', 'seller')),
    matched_amount numeric(18, 4) NOT NULL,
    publish_datetime timestamptz NOT NULL
)"""
OUTPUT_INDEXES = [
    "ALTER TABLE output ADD PRIMARY KEY (icp_id, read_date, trading_period, buyer_seller, run_id)",
    "CREATE INDEX output_by_date ON output (read_date, run_id)",
]

# Query 1: trading date D holds the reads ending in (local midnight of D, local midnight of D+1].
Q1 = """
SELECT read_timestamp,
       ((read_timestamp - interval '30 minutes') AT TIME ZONE 'Pacific/Auckland')::date AS read_date,
       (extract(epoch FROM read_timestamp - (((read_timestamp - interval '30 minutes')
            AT TIME ZONE 'Pacific/Auckland')::date::timestamp AT TIME ZONE 'Pacific/Auckland')) / 1800)::int
            AS trading_period,
       interval_read, energy_flow_direction
FROM raw_reads
WHERE icp_id = %s AND read_timestamp > %s AND read_timestamp <= %s
ORDER BY read_timestamp, energy_flow_direction"""
Q1_KEYS = ("read_timestamp", "read_date", "trading_period", "interval_read", "energy_flow_direction")
Q2 = """
SELECT to_char(read_date, 'YYYY-MM-DD') AS period, buyer_seller, sum(matched_amount) AS matched_amount,
       count(*) AS intervals, array_agg(DISTINCT run_id ORDER BY run_id) AS runs
FROM output
WHERE icp_id = %s AND read_date BETWEEN %s AND %s AND buyer_seller = %s AND run_id = ANY(%s)
GROUP BY read_date, buyer_seller
ORDER BY read_date, buyer_seller"""
Q2_KEYS = ("period", "buyer_seller", "matched_amount", "intervals", "runs")
Q4 = """
SELECT icp_id, buyer_seller, sum(matched_amount) AS matched_amount, count(*) AS intervals,
       array_agg(DISTINCT run_id ORDER BY run_id) AS runs
FROM output
WHERE read_date BETWEEN %s AND %s AND run_id = ANY(%s)
GROUP BY icp_id, buyer_seller
ORDER BY icp_id, buyer_seller"""
Q4_SCHEMA = pa.schema([("icp_id", pa.string()), ("buyer_seller", pa.string()),
                       ("matched_amount", pa.decimal128(18, 4)), ("intervals", pa.int64()),
                       ("runs", pa.list_(pa.string()))])
_json = msgspec.json.Encoder(decimal_format="string")


def ensure_installed() -> bool:
    """PostgreSQL 15's server binaries, installed from Debian when missing and we are root.
    The package's own cluster (which Debian may start) is stopped: the bench uses a private one."""
    if (PG_BIN / "initdb").exists():
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], env=env, check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "postgresql-15"], env=env, check=False, capture_output=True)
    if shutil.which("pg_ctlcluster"):
        subprocess.run(["pg_ctlcluster", "15", "main", "stop"], check=False, capture_output=True)
    return (PG_BIN / "initdb").exists()


class PgCluster:
    """initdb + pg_ctl in ``folder`` (a private, empty folder the cluster then owns), run as
    the ``postgres`` user when we are root; ``stop`` removes the folder."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.data = folder / "data"
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> str:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "bench", "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        options = " ".join(f"-c {k}={v}" for k, v in {**SERVER_OPTIONS, "port": self.port,
                                                       "unix_socket_directories": self.data}.items())
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"),
                  "-w", "-t", "120", "start")
        return f"host=127.0.0.1 port={self.port} user=bench dbname=postgres"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def version(conninfo: str) -> str:
    import psycopg

    with psycopg.connect(conninfo) as con:
        return con.execute("SHOW server_version").fetchone()[0]


def _copy_file(con, table: str, columns: str, path: Path) -> None:
    with con.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, HEADER true)") as copy:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)


def load(conninfo: str, raw_csv: Path, output_csv: Path) -> dict:
    """COPY both tables (created in the load's transaction, so no WAL), then build the
    indexes and VACUUM ANALYZE; seconds of each step and the tables' size with indexes."""
    import psycopg

    stats: dict = {}
    with psycopg.connect(conninfo, autocommit=False) as con:
        for name, ddl, columns, path, indexes in (
                ("raw", RAW_DDL, "read_timestamp, interval_read, energy_flow_direction, icp_id", raw_csv,
                 [RAW_INDEX]),
                ("output", OUTPUT_DDL, "run_id, icp_id, read_date, trading_period, read_time, buyer_seller, "
                                       "matched_amount, publish_datetime", output_csv, OUTPUT_INDEXES)):
            table = "raw_reads" if name == "raw" else "output"
            t = time.perf_counter()
            con.execute(ddl)
            _copy_file(con, table, columns, path)
            con.commit()
            copy_s = time.perf_counter() - t
            t = time.perf_counter()
            for statement in indexes:
                con.execute(statement)
            con.commit()
            index_s = time.perf_counter() - t
            con.autocommit = True
            t = time.perf_counter()
            con.execute(f"VACUUM ANALYZE {table}")
            vacuum_s = time.perf_counter() - t
            con.autocommit = False
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            table_bytes, total_bytes = con.execute(
                "SELECT pg_table_size(%s), pg_total_relation_size(%s)", (table, table)).fetchone()
            stats[name] = {"rows": rows, "copy_s": copy_s, "index_s": index_s, "vacuum_analyze_s": vacuum_s,
                           "load_s": copy_s + index_s + vacuum_s, "rows_per_s": rows / (copy_s + index_s + vacuum_s),
                           "table_bytes": table_bytes, "total_bytes": total_bytes}
    return stats


class PgQueries:
    """Queries 1, 2 and 4 on one connection, each returning the bytes a service would send."""

    def __init__(self, conninfo: str, runs: list[str]) -> None:
        import psycopg

        self.con = psycopg.connect(conninfo, autocommit=True)
        self.con.execute("SET TimeZone = 'Pacific/Auckland'")
        self.runs = runs

    def close(self) -> None:
        self.con.close()

    def q1_json(self, icp_id: str, start: dt.date, end: dt.date) -> bytes:
        lo = dt.datetime.combine(start, dt.time(), NZ)
        hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), NZ)
        rows = self.con.execute(Q1, (icp_id, lo, hi), prepare=True).fetchall()
        return _json.encode({"icp_id": icp_id, "start": start.isoformat(), "end": end.isoformat(),
                             "as_of": None, "reads": [dict(zip(Q1_KEYS, r)) for r in rows]})

    def q2_json(self, icp_id: str, start: dt.date, end: dt.date, buyer_seller: str) -> bytes:
        rows = self.con.execute(Q2, (icp_id, start, end, buyer_seller, self.runs), prepare=True).fetchall()
        return _json.encode({"icp_id": icp_id, "granularity": "day",
                             "items": [dict(zip(Q2_KEYS, r)) for r in rows], "next_cursor": None})

    def q4_rows(self, start: dt.date, end: dt.date) -> list[tuple]:
        return self.con.execute(Q4, (start, end, self.runs), prepare=True).fetchall()

    def q4_arrow(self, start: dt.date, end: dt.date) -> bytes:
        rows = self.q4_rows(start, end)
        columns = list(zip(*rows)) if rows else [[] for _ in Q4_SCHEMA]
        table = pa.table([pa.array(c, f.type) for c, f in zip(columns, Q4_SCHEMA)], schema=Q4_SCHEMA)
        sink = io.BytesIO()
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()
