"""Deterministic algorithm-output deliveries for tests, in the brief's CSV format (spaces
after commas, quoted values) or as Arrow/Parquet tables."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from datalake.trading import ZONE, day_bounds, periods_in_day

HEADER = "icp_id, matched_amount, read_date, read_time, publish_datetime, buyer_seller"
PUBLISHED = "2018-06-27 16:39:36.057601+12"


def interval_rows(icp_ids: Sequence[str], days: Iterable[dt.date], *, seed: int = 1,
                  sides: Sequence[str] = ("buyer", "seller")) -> list[dict]:
    """One row per ICP, trading period and side, amounts with 4 decimals. Each row carries
    its trading_period; ``write_csv`` leaves it out unless asked."""
    rows = []
    for day in days:
        midnight = day_bounds(day)[0]
        for icp in icp_ids:
            rng = random.Random(f"{seed}-{icp}-{day}")
            for p in range(1, periods_in_day(day) + 1):
                local = (midnight + dt.timedelta(minutes=30 * (p - 1))).astimezone(ZONE)
                for side in sides:
                    rows.append({"icp_id": icp, "matched_amount": Decimal(rng.randint(0, 20000)) / 10000,
                                 "read_date": day.isoformat(), "read_time": f"{local:%H:%M:%S}",
                                 "publish_datetime": PUBLISHED, "buyer_seller": side, "trading_period": p})
    return rows


def write_csv(path: Path, rows: Iterable[dict], *, with_period: bool = False) -> Path:
    """The brief's format: ``101, "0.0000", "2018-06-13", "00:00:00", "...+12", "buyer"``."""
    header = HEADER + (", trading_period" if with_period else "")
    lines = [header]
    for r in rows:
        cells = [str(r["icp_id"])] + [f'"{r[c]:.4f}"' if c == "matched_amount" else f'"{r[c]}"'
                                      for c in ("matched_amount", "read_date", "read_time",
                                                "publish_datetime", "buyer_seller")]
        if with_period:
            cells.append(str(r["trading_period"]))
        lines.append(", ".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def days(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def typed_table(rows: Sequence[dict]) -> pa.Table:
    """``rows`` as the typed Arrow table of a run part."""
    return pa.table({
        "icp_id": pa.array([r["icp_id"] for r in rows], pa.string()),
        "matched_amount": pa.array([r["matched_amount"] for r in rows], pa.decimal128(18, 4)),
        "read_date": pa.array([dt.date.fromisoformat(r["read_date"]) for r in rows], pa.date32()),
        "read_time": pa.array([r["read_time"] for r in rows], pa.string()),
        "publish_datetime": pa.array([dt.datetime(2018, 6, 27, 4, 39, 36, tzinfo=dt.UTC)] * len(rows),
                                     pa.timestamp("us", tz="UTC")),
        "buyer_seller": pa.array([r["buyer_seller"] for r in rows], pa.string()),
        "trading_period": pa.array([r["trading_period"] for r in rows], pa.int16()),
    })


def write_table(path: Path, rows: Sequence[dict], fmt: str = "parquet") -> Path:
    """``rows`` as a typed Parquet or Arrow IPC file, as the algorithm would upload them."""
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    table = typed_table(rows)
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        with ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table)
    return path


def publish_rows(lake, folder: Path, rows: Sequence[dict], start: dt.date | str, end: dt.date | str, *,
                 parts: int = 1, version: str = "1", with_period: bool = False, allow_partial: bool = False,
                 stage: str = "latest") -> dict:
    """Create a run, upload ``rows`` as CSV split into ``parts`` parts, publish it (with
    ``allow_partial``, also if it leaves dates or raw ICPs of its window without output; with
    ``stage="candidate"``, as a candidate)."""
    from datalake import runs

    record = runs.create_run(lake, start=start, end=end, algorithm="test-matcher", version=version)
    size = -(-len(rows) // parts)
    for n in range(parts):
        path = write_csv(folder / f"{record['run_id']}-{n + 1}.csv", rows[n * size:(n + 1) * size],
                         with_period=with_period)
        runs.upload_part(lake, record["run_id"], n + 1, path)
    return runs.publish_run(lake, record["run_id"], allow_partial=allow_partial, stage=stage)
