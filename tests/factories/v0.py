"""Lakes in the format of version 0: the record shapes written before compaction and
``meterlake check`` existed. The data files are the same as today's, without their block
files; the records say less."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from datalake import runs
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake

from . import output
from .raw import day_rows, write_csv

START = dt.date(2018, 6, 1)


def build_lake(root: Path) -> Lake:
    """20 ICPs x 3 days, a revision of one ICP's second day, and two published runs over the
    window (the second covering one day), then the first retracted: a lake in today's format."""
    lake = Lake.create(root)
    generate(lake, icps=20, days=3, start=START, seed=5)
    first_file = sorted(f.path for f in lake.raw_files())[0]
    icps = sorted(set(pq.read_table(first_file, columns=["icp_id"])["icp_id"].to_pylist()))
    ingest_file(lake, write_csv(root.parent / "revision.csv", day_rows(icps[0], START + dt.timedelta(days=1), seed=9)))
    for seed, (first, n) in enumerate([(START, 3), (START + dt.timedelta(days=1), 1), (START, 2)], start=1):
        run = runs.create_run(lake, start=first, end=first + dt.timedelta(days=n - 1), algorithm="matcher",
                              version=f"0.{seed}")["run_id"]
        rows = output.interval_rows(icps[:5], output.days(first, n), seed=seed)
        runs.upload_part(lake, run, 1, output.write_csv(root.parent / f"out-{seed}.csv", rows))
        runs.publish_run(lake, run, allow_partial=True)  # 5 of the 20 ICPs
    runs.retract_run(lake, "run-00000003")
    return lake


def rewrite_as_v0(root: Path, *, bare_raw_entries: bool = False) -> None:
    """Rewrite a lake's records in the version 0 shapes: ``lake.json`` at version 0, run
    records whose output file entries carry no sha256 (as before checksums of output files
    were recorded). With ``bare_raw_entries`` the raw file entries of commit records also
    lack bytes and sha256, as records made by hand or imported from elsewhere might."""
    info = json.loads((root / "lake.json").read_text())
    info["version"] = 0
    _write(root / "lake.json", info)
    shutil.rmtree(root / "_blocks", ignore_errors=True)  # block files came with version 2
    for path in sorted((root / "_meta" / "runs").glob("run-*.json")):
        record = json.loads(path.read_text())
        for f in record.get("files") or []:
            f.pop("sha256", None)
        _write(path, record)
    if bare_raw_entries:
        for path in sorted((root / "_meta" / "ingests").glob("ing-*.json")):
            record = json.loads(path.read_text())
            for f in record["files"]:
                f.pop("sha256", None)
                f.pop("bytes", None)
            _write(path, record)


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
