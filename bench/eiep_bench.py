"""EIEP3 ingest and change-feed speed: a lake written by the generator, exported as one EIEP3
file per trading date, ingested into a fresh lake (rows a second); then a one-day revision
delivery into it and the change feed of that delivery (seconds)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

from datalake import sql
from datalake.raw.changes import read_changes, stream_changes
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake


def export_eiep3(lake: Lake, day: dt.date, path: Path) -> int:
    """The reads of ``day`` as an EIEP3 file; returns its detail records."""
    files = [str(f.path) for f in lake.raw_files(day, day)]
    con = sql.connect()
    body = path.with_suffix(".body")
    con.sql(sql.query("raw/export_eiep3"), params={"files": files}).write_csv(str(body), header=False, quotechar="")
    rows = con.sql("SELECT count(*) FROM read_csv($p, header = false, columns = {'line': 'VARCHAR'}, "
                   "delim = '\x01', quote = '')", params={"p": str(body)}).fetchall()[0][0]
    con.close()
    with open(path, "wb") as out:
        out.write(f"HDR,ICPHH,11.0,MEPX,,RETL,{day:%d/%m/%Y},00:00:00,{day:%Y%m%d},{rows},{day:%Y%m},E,I\n".encode())
        with open(body, "rb") as f:
            shutil.copyfileobj(f, out, 16 << 20)
    body.unlink()
    return rows


def measure(source: Lake, work: Path, start: dt.date, ingest_days: int) -> dict:
    """Export ``ingest_days`` dates of ``source`` as EIEP3 files into ``work`` and ingest them
    into a fresh lake there (timed, one process, file after file); then ingest a one-day
    revision of the last of them into ``source`` itself and time its change feed."""
    files = []
    for i in range(ingest_days):
        day = start + dt.timedelta(days=i)
        path = work / f"ICPHH_{day:%Y%m%d}.txt"
        files.append((path, export_eiep3(source, day, path)))
    target = Lake.create(work / "eiep")
    each = []
    for path, _ in files:
        began = time.perf_counter()
        ingest_file(target, path, fmt="eiep3")
        each.append(round(time.perf_counter() - began, 2))
    seconds = sum(each)
    rows = sum(n for _, n in files)
    result = {"eiep3_files": len(files), "eiep3_rows": rows, "eiep3_seconds": round(seconds, 2),
              "eiep3_seconds_each": each, "eiep3_rows_per_second": round(rows / seconds)}

    # One-day revision delivery into the 14-day lake: the last exported day again, every read
    # changed, as EIEP3; then the change feed of exactly that ingest.
    day = start + dt.timedelta(days=len(files) - 1)
    revision = work / "revision.txt"
    with open(files[-1][0]) as f, open(revision, "w") as out:
        for n, line in enumerate(f):
            if n == 0:
                out.write(line.replace(f",{day:%Y%m%d},", f",{day:%Y%m%d}R,").replace(",E,I", ",E,R"))
                continue
            parts = line.rstrip("\n").split(",")
            parts[6] = f"{float(parts[6]) + 0.001:.3f}"
            out.write(",".join(parts) + "\n")
    before = source.head_ingest()
    ingest_file(source, revision, fmt="eiep3")
    first_page, whole = [], []
    for _ in range(3):
        began = time.perf_counter()
        read_changes(source, before, limit=1000)
        first_page.append(time.perf_counter() - began)
        began = time.perf_counter()
        rows = sum(b.num_rows for b in stream_changes(source, before)[1])
        whole.append(time.perf_counter() - began)
    for path, _ in files:
        path.unlink()
    revision.unlink()
    shutil.rmtree(work / "eiep", ignore_errors=True)
    result.update(change_feed_rows=rows, change_feed_first_page_seconds=round(min(first_page), 3),
                  change_feed_all_rows_seconds=round(min(whole), 3))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--icps", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14, help="days of the lake the change feed reads")
    parser.add_argument("--ingest-days", type=int, default=2, help="days exported as EIEP3 and ingested")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2018, 6, 1))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="meterlake-eiep-bench-"))
    source = Lake.create(work / "source")
    generate(source, icps=args.icps, days=args.days, start=args.start, seed=42)
    result = {"icps": args.icps, "lake_days": args.days, **measure(source, work, args.start, args.ingest_days)}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
