"""Bulk raw reads for the matching algorithm: every ICP of a date range as a stream of Arrow
record batches, ordered by icp_id then time, optionally one shard of n.

The stream never holds the whole range in memory: the snapshot's ICPs are listed first (with
a row count each), then read in slices of about ``chunk_rows`` rows, each slice one query
sorted on its own. The day files are sorted by icp_id, so a slice's scan skips the row
groups outside its id range."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from . import schema, serving, sql
from .errors import InvalidArgumentError
from .lake import Lake, check_range, parse_date
from .reads import check_direction

MAX_SHARDS = 4096
CHUNK_ROWS = 2_000_000
BATCH_ROWS = 131_072
SHARD_RE = re.compile(r"^([0-9]{1,4})/([0-9]{1,4})$")

BULK_READS_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string()),
    pa.field("read_timestamp", schema.TIMESTAMP),
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("interval_read", schema.READ_DECIMAL),
    pa.field("energy_flow_direction", pa.string()),
])
# The same with icp_id and energy_flow_direction as dictionaries (``dictionary=True``).
BULK_READS_DICTIONARY_SCHEMA = pa.schema([
    pa.field("icp_id", pa.dictionary(pa.int32(), pa.string())),
    *list(BULK_READS_SCHEMA)[1:-1],
    pa.field("energy_flow_direction", pa.dictionary(pa.int8(), pa.string())),
])


@dataclass(frozen=True)
class Shard:
    """Shard ``k`` of ``n`` (0 <= k < n): the ICPs with ``shard_of(icp_id, n) == k``."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


ALL = Shard(0, 1)


def parse_shard(value: str | Shard | None) -> Shard:
    """``"k/n"`` -> ``Shard(k, n)``; ``None`` means every ICP."""
    if value is None:
        return ALL
    if isinstance(value, Shard):
        shard = value
    else:
        m = SHARD_RE.match(value) if isinstance(value, str) else None
        if not m:
            raise InvalidArgumentError(f"shard must be k/n (e.g. 0/4), got {value!r}", field="shard", value=value)
        shard = Shard(int(m[1]), int(m[2]))
    if not (1 <= shard.n <= MAX_SHARDS and 0 <= shard.k < shard.n):
        raise InvalidArgumentError(f"shard k/n needs 0 <= k < n <= {MAX_SHARDS}, got {shard}",
                                   field="shard", value=str(shard))
    return shard


def shard_of(icp_id: str, n: int) -> int:
    """The shard of ``icp_id`` among ``n``: the first 8 hex digits of its md5, mod ``n``.
    The SQL in ``raw_bulk_icps.sql`` computes the same number."""
    return int(hashlib.md5(icp_id.encode()).hexdigest()[:8], 16) % n


@dataclass
class BulkReads:
    """An open bulk read: ``as_of`` names the raw snapshot it reads (None for an empty
    lake), ``batches`` yields the rows. Iterate ``batches`` once, or call ``close``.
    ``same_dictionaries``: every batch's dictionary columns hold the very same dictionaries
    as the first batch's, so a stream needs to send them only once."""

    as_of: str | None
    icps: int
    rows_estimate: int
    batches: Iterator[pa.RecordBatch]
    schema: pa.Schema = BULK_READS_SCHEMA
    same_dictionaries: bool = False

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches)

    def close(self) -> None:
        close = getattr(self.batches, "close", None)
        if close:
            close()


def read_bulk(lake: Lake, start: dt.date | str, end: dt.date | str, *, direction: str | None = None,
              as_of: str | None = None, shard: Shard | str | None = None,
              con: duckdb.DuckDBPyConnection | None = None, chunk_rows: int = CHUNK_ROWS,
              batch_rows: int = BATCH_ROWS, dictionary: bool = False) -> BulkReads:
    """Raw reads of every ICP (or one shard of them) for trading dates ``start``..``end``,
    latest revision of each key as of ingest ``as_of`` (default: the newest). Arguments are
    checked and the ICPs listed now; rows are read as ``batches`` is iterated. The stream
    owns ``con`` (a fresh connection when None) and closes it when done. ``dictionary``
    gives icp_id and energy_flow_direction as dictionary arrays
    (``BULK_READS_DICTIONARY_SCHEMA``)."""
    try:
        check_direction(direction)
        start, end = parse_date(start, "start"), parse_date(end, "end")
        check_range(start, end)
        shard = parse_shard(shard)
        snapshot = as_of or lake.head_ingest()
        files = lake.raw_files(start, end, as_of)
        index = serving.index_for(lake)
    except BaseException:
        if con is not None:
            con.close()
        raise
    if index is not None and index.covers(files):
        if con is not None:
            con.close()
        icps, rows, batches = index.bulk(start, end, direction=direction, as_of=snapshot,
                                         shard_k=shard.k, shard_n=shard.n, dictionary=dictionary)
        if dictionary:
            return BulkReads(snapshot, icps, rows, batches, BULK_READS_DICTIONARY_SCHEMA, same_dictionaries=True)
        return BulkReads(snapshot, icps, rows, (_typed(b) for b in batches))
    owned = con or sql.connect()
    try:
        paths = [str(f.path) for f in files]
        ids = owned.execute(sql.query("raw_bulk_icps"), {
            "files": paths, "as_of": snapshot, "direction": direction,
            "shard_k": shard.k, "shard_n": shard.n}).fetchall() if files else []
    except BaseException:
        owned.close()
        raise
    target = BULK_READS_DICTIONARY_SCHEMA if dictionary else BULK_READS_SCHEMA
    if not ids:
        owned.close()
        return BulkReads(snapshot, 0, 0, iter(()), target)
    revised = len({f.read_date for f in files}) < len(files) or not all(f.unique_keys for f in files)
    query = sql.query("raw_bulk_reads" if revised else "raw_bulk_reads_unrevised")
    params = {"files": paths, "as_of": snapshot, "direction": direction}
    batches = _stream(owned, query, params, _slices(ids, chunk_rows), batch_rows, sharded=shard != ALL,
                      target=target)
    return BulkReads(snapshot, len(ids), sum(n for _, n in ids), batches, target)


def _typed(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch if batch.schema.equals(BULK_READS_SCHEMA) else batch.cast(BULK_READS_SCHEMA)


def _slices(ids: list[tuple[str, int]], chunk_rows: int) -> Iterator[list[str]]:
    current: list[str] = []
    rows = 0
    for icp_id, n in ids:
        current.append(icp_id)
        rows += n
        if rows >= chunk_rows:
            yield current
            current, rows = [], 0
    if current:
        yield current


def _stream(con: duckdb.DuckDBPyConnection, query: str, params: dict, slices: Iterator[list[str]],
            batch_rows: int, *, sharded: bool, target: pa.Schema) -> Iterator[pa.RecordBatch]:
    try:
        for icp_ids in slices:
            # Unsharded, the id range alone selects the slice; the id list would only add a join.
            reader = con.sql(query, params={**params, "icp_ids": icp_ids if sharded else None, "lo": icp_ids[0],
                                            "hi": icp_ids[-1]}).to_arrow_reader(batch_rows)
            for batch in reader:
                if batch.num_rows:
                    yield batch.cast(target)
    finally:
        con.close()
