"""Synthetic raw reads with realistic shapes, written straight into the lake as one ingest.

Every ICP has an extraction (X) stream with a morning and an evening peak; about one in six
also has a rooftop-solar injection (I) stream. Deterministic for a seed."""
from __future__ import annotations

import datetime as dt
import hashlib
import time

import numpy as np
import pyarrow as pa

from datalake.storage import commit
from datalake import schema
from datalake.raw.ingest import IngestResult, ingest_record, ingest_with_hash, write_block_files
from datalake.lake import Lake
from datalake.storage.parquet import write_parquet
from datalake.delivery.rawtypes import decimal_array
from datalake.trading import ZONE, day_bounds, periods_in_day

NETWORKS = np.array(["TR", "UN", "CE", "LC", "MP", "WE", "EA", "HB"])
ALPHANUM = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"))
SOLAR_SHARE = 1 / 6


def icp_ids(n: int, seed: int) -> np.ndarray:
    """``n`` distinct ids in the market's 15-character shape, e.g. ``0000012345TR9A1``."""
    rng = np.random.default_rng([seed, 1])
    numbers = rng.choice(10**9, size=n, replace=False) + 10**9 * rng.integers(0, 10, n)
    nets = NETWORKS[rng.integers(0, len(NETWORKS), n)]
    check = ALPHANUM[rng.integers(0, len(ALPHANUM), (n, 3))]
    return np.array([f"{num:010d}{net}{''.join(c)}" for num, net, c in zip(numbers, nets, check)])


def generate(lake: Lake, *, icps: int, days: int, start: dt.date, seed: int = 42,
             actor: str | None = None) -> IngestResult:
    """Write ``icps`` x ``days`` of half-hourly reads from trading date ``start``, as one
    ingest. The rows follow from the arguments, which name the delivery: the same arguments
    again are a no-op, as a re-delivered file is (rows are not compared with what is stored,
    so overlapping generations with other arguments store their rows again)."""
    started = time.monotonic()
    ids = np.sort(icp_ids(icps, seed))
    rng = np.random.default_rng([seed, 2])
    base = rng.lognormal(mean=np.log(0.35), sigma=0.5, size=icps)         # kWh per half hour
    evening = rng.uniform(1.5, 3.5, icps)
    solar = rng.random(icps) < SOLAR_SHARE
    solar_peak = np.where(solar, rng.uniform(0.8, 2.5, icps), 0.0)
    icp_array = pa.array(ids)
    name = f"generate icps={icps} days={days} start={start} seed={seed}"
    digest = hashlib.sha256(name.encode()).hexdigest()
    previous = ingest_with_hash(lake, digest)
    if previous is not None:
        return IngestResult(status="noop", source=name, reason=f"content already ingested as {previous}",
                            seconds=time.monotonic() - started)
    def prepare(ingest: str, staged: commit.Staged) -> dict:
        files = []
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            path = work / f"{day.isoformat()}.parquet"
            table = _day_table(day, icp_array, base, evening, solar_peak,
                               np.random.default_rng([seed, 3, day.toordinal()]), ingest)
            rows = write_parquet(path, schema.RAW_FILE_SCHEMA, table.to_batches(),
                                 options=schema.RAW_WRITE_OPTIONS)
            files.append((day, path, rows))
        total = sum(r for _, _, r in files)
        return ingest_record(lake, ingest, write_block_files(files), staged, actor=actor,
                             source={"name": name, "format": "generated", "bytes": None, "sha256": digest},
                             rows={"read": total, "new": total, "revised": 0, "unchanged": 0,
                                   "duplicates_collapsed": 0, "rejected": 0, "stored": total})

    with lake.staging() as work:
        record = commit.append(lake, prepare, retry=True)
    rows = record["rows"]["stored"]
    result = IngestResult(status="committed", source=name, ingest_id=record["ingest_id"], rows_read=rows,
                          rows_new=rows, dates=record["dates"])
    result.seconds = time.monotonic() - started
    return result


def _day_table(day: dt.date, icp_array: pa.Array, base, evening, solar_peak, rng, ingest: str) -> pa.Table:
    n = len(base)
    periods = periods_in_day(day)
    midnight = day_bounds(day)[0]
    starts_us = int(midnight.timestamp()) * 10**6 + np.arange(periods, dtype=np.int64) * 1800 * 10**6
    local_hour = np.array([(midnight + dt.timedelta(minutes=30 * p)).astimezone(ZONE).hour + 0.25
                           for p in range(periods)])
    shape = (0.6 + 0.5 * np.exp(-((local_hour - 7.5) ** 2) / 2)
             + np.exp(-((local_hour - 19) ** 2) / 4)[None, :] * (evening[:, None] - 1) * 0.5)
    load = base[:, None] * shape * rng.gamma(4.0, 0.25, (n, periods))
    sun = np.clip(np.sin(np.pi * (local_hour - 6.5) / 12.5), 0, None) ** 1.5
    cloud = rng.uniform(0.3, 1.0, n)
    gen = solar_peak[:, None] * sun[None, :] * cloud[:, None] * rng.uniform(0.85, 1.0, (n, periods))
    has_solar = solar_peak > 0

    icp_idx = np.repeat(np.arange(n), periods)
    period_idx = np.tile(np.arange(periods), n)
    x_rows = (icp_idx, period_idx, np.ones(n * periods, np.int8), load.ravel())
    s = np.flatnonzero(has_solar)
    i_rows = (np.repeat(s, periods), np.tile(np.arange(periods), len(s)),
              np.zeros(len(s) * periods, np.int8), gen[has_solar].ravel())
    icp_col, per_col, dir_col, val_col = (np.concatenate(pair) for pair in zip(x_rows, i_rows))
    order = np.lexsort((dir_col, per_col, icp_col))
    icp_col, per_col, dir_col, val_col = icp_col[order], per_col[order], dir_col[order], val_col[order]
    milli = np.round(val_col * 1000).astype(np.int64)
    return pa.table({
        "icp_id": icp_array.take(pa.array(icp_col)),
        "read_timestamp": pa.array(starts_us[per_col] + 1800 * 10**6, schema.TIMESTAMP),
        "trading_period": pa.array((per_col + 1).astype(np.int16)),
        "interval_read": decimal_array(milli, schema.READ_DECIMAL),
        "energy_flow_direction": pa.array(np.where(dir_col == 1, "X", "I")),
        "ingest_id": pa.array([ingest] * len(order), pa.string()),
    })
