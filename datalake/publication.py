"""Writing a run's output files and computing its statistics, before the commit that
makes them visible (see ``runs.publish_run``)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schema, sql
from .errors import RowError, ValidationError
from .lake import RawFile
from .parquet import write_parquet
from .storage import fsync_dir, fsync_file, sha256_file

KEY = ("icp_id", "trading_period", "buyer_seller")
MISSING_SAMPLE = 20


def publish_files(con: duckdb.DuckDBPyConnection, parts: list[str], folder: Path, run_id: str) -> list[dict]:
    """Write ``folder/read_date=<date>/part-00000.parquet`` for every date of the staged
    ``parts``, each sorted by (icp_id, trading_period, buyer_seller). Raises
    ``ValidationError`` if a key occurs more than once; returns the files (paths relative
    to ``folder``)."""
    dates = [r[0] for r in con.execute("SELECT DISTINCT read_date FROM read_parquet($parts) ORDER BY 1",
                                       {"parts": parts}).fetchall()]
    errors: list[RowError] = []
    total = 0
    files = []
    for day in dates:
        table = con.sql(sql.query("output_rows_for_date"), params={"parts": parts, "read_date": day}
                        ).to_arrow_table()
        found, count = _duplicates(table, day)
        errors += found[:ValidationError.MAX_REPORTED - len(errors)]
        total += count
        if total:
            continue  # keep checking the other dates, but write nothing more
        partition = folder / f"read_date={day.isoformat()}"
        partition.mkdir(parents=True)
        path = partition / "part-00000.parquet"
        rows = write_parquet(path, schema.OUTPUT_FILE_SCHEMA,
                             table.drop_columns(["_part", "_row"]).to_batches(schema.ROW_GROUP_ROWS),
                             options=schema.OUTPUT_WRITE_OPTIONS)
        fsync_dir(partition)
        files.append({"read_date": day.isoformat(), "path": path.relative_to(folder).as_posix(), "rows": rows,
                      "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    if total:
        raise ValidationError(f"{run_id}: nothing published", errors, total)
    fsync_dir(folder)
    return files


def _duplicates(table: pa.Table, day: dt.date) -> tuple[list[RowError], int]:
    """Rows whose key equals the previous row's (the table is sorted by key, so every
    repeat follows its first occurrence)."""
    n = table.num_rows
    if n < 2:
        return [], 0
    same = None
    for column in KEY:
        values = table[column]
        eq = pc.equal(values.slice(1), values.slice(0, n - 1))
        same = eq if same is None else pc.and_(same, eq)
    at = pc.indices_nonzero(same)
    count = len(at)
    errors = []
    for i in at[:ValidationError.MAX_REPORTED].to_pylist():
        first, dup = table.slice(i, 1).to_pylist()[0], table.slice(i + 1, 1).to_pylist()[0]
        errors.append(RowError(
            f"part {dup['_part']}", dup["_row"], "icp_id", dup["icp_id"],
            f"duplicate of part {first['_part']} row {first['_row']}: same icp_id, read_date {day}, "
            f"trading period {dup['trading_period']} and buyer_seller {dup['buyer_seller']}"))
    return errors, count


def run_stats(con: duckdb.DuckDBPyConnection, files: list[str], raw_files: list[RawFile],
              raw_as_of: str | None) -> dict:
    """Row counts, exact totals per buyer_seller (decimal strings), and ICPs missing from
    the raw snapshot, for the record of a run about to publish."""
    totals, counts = {}, {}
    for side, count, amount in con.execute(sql.query("output_run_totals"), {"files": files}).fetchall():
        totals[side] = f"{amount:.{schema.AMOUNT_SCALE}f}"
        counts[side] = count
    if raw_files:
        params = {"files": files, "raw_files": [str(f.path) for f in raw_files], "as_of": raw_as_of,
                  "sample": MISSING_SAMPLE}
        icps, missing, sample = con.execute(sql.query("output_missing_icps"), params).fetchall()[0]
    else:
        icps, missing, sample = con.execute(sql.query("output_icps"),
                                            {"files": files, "sample": MISSING_SAMPLE}).fetchall()[0]
    return {"rows": sum(counts.values()), "rows_by_buyer_seller": counts, "totals": totals, "icps": icps, "missing_icps": missing,
            "missing_icps_sample": sample}


def write_icp_index(con: duckdb.DuckDBPyConnection, files: list[str], path: Path) -> None:
    """The run's sorted distinct icp_ids, so that a by-icp page finds its last key without
    scanning the output."""
    table = con.sql(sql.query("output_run_icps"), params={"files": files}).to_arrow_table()
    pq.write_table(table.cast(pa.schema([pa.field("icp_id", pa.string(), nullable=False)])), path,
                   compression="zstd")
    fsync_file(path)
