"""Synthetic algorithm runs over the raw reads already in a lake, for the demo lake and
the benchmarks. Each run goes through the real path: parts written as Parquet, uploaded,
validated and published."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pyarrow as pa

from datalake import sql
from datalake.errors import InvalidArgumentError
from datalake.lake import Lake
from datalake.storage.parquet import write_parquet
from datalake.runs.lifecycle import create_run, publish_run, upload_part

Progress = Callable[[str, float], None]

UPLOAD_SCHEMA = pa.schema([
    pa.field("icp_id", pa.string()),
    pa.field("matched_amount", pa.decimal128(18, 4)),
    pa.field("read_date", pa.date32()),
    pa.field("read_time", pa.string()),
    pa.field("publish_datetime", pa.timestamp("us", tz="UTC")),
    pa.field("buyer_seller", pa.string()),
    pa.field("trading_period", pa.int16()),
])


def demo_runs(lake: Lake, *, count: int = 2, parts: int = 1, seed: int = 42, actor: str | None = None,
              progress: Progress | None = None) -> list[dict]:
    """Publish ``count`` runs over the whole window of the lake's raw reads, each with a
    different seed (so different outputs), each uploaded in ``parts`` shards by ICP."""
    files = lake.raw_files()
    if not files:
        raise InvalidArgumentError("the lake has no raw reads to build runs from", field="lake")
    start, end = min(f.read_date for f in files), max(f.read_date for f in files)
    published = []
    for k in range(count):
        run_seed = seed + k
        record = create_run(lake, start=start, end=end, algorithm="demo-matcher", version=f"1.{k}",
                            params={"seed": run_seed, "parts": parts}, actor=actor)
        run = record["run_id"]
        with lake.staging() as work:
            con = sql.connect(memory_limit="2GB", temp_directory=str(work / "spill"))
            try:
                for shard in range(parts):
                    began = time.monotonic()
                    path = work / f"part-{shard + 1}.parquet"
                    reader = con.sql(sql.query("demo/output_from_raw"), params={
                        "files": [str(f.path) for f in files], "shards": parts, "shard": shard,
                        "seed": run_seed, "published": dt.datetime.now(dt.UTC),
                    }).to_arrow_reader(1 << 20)
                    write_parquet(path, UPLOAD_SCHEMA, reader)
                    upload_part(lake, run, shard + 1, path, actor=actor)
                    path.unlink()
                    if progress:
                        progress(f"{run} part {shard + 1}/{parts}", time.monotonic() - began)
            finally:
                con.close()
        began = time.monotonic()
        published.append(publish_run(lake, run, actor=actor))
        if progress:
            progress(f"{run} publish", time.monotonic() - began)
    return published
