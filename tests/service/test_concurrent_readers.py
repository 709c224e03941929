"""Readers during writes: many HTTP readers (one ICP's reads, the bulk stream, one ICP's
output summary, output by key paged with a cursor and streamed as Arrow) run against a
real server while another thread ingests new reads and revisions, publishes and retracts
runs and compacts the raw files. Every answer must be the lake's state after some commit:
the expected totals of each state are computed from what was written (a dict of the
latest value per key; the rows of each run and which run is latest per date), not by
asking the engine, and every answer's totals must be among them. Zero errors allowed."""
from __future__ import annotations

import datetime as dt
import io
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pytest

from datalake import runs
from datalake.raw.bulk import read_bulk
from datalake.raw.compaction import compact
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.factories.output import days, interval_rows, write_csv as write_output_csv
from tests.factories.raw import day_rows, nz_text, write_csv

from .server import serve

START = dt.date(2018, 6, 1)
DATES = days(START, 3)
R = {"start": "2018-06-01", "end": "2018-06-03"}
READERS = 6
Key = tuple[str, dt.datetime, str]


class Model:
    """What the lake should hold, kept by the writer from what it wrote."""

    def __init__(self, reads: dict[Key, Decimal], watched: str) -> None:
        self.reads = reads
        self.watched = watched
        self.runs: list[dict] = []   # in publish order: run_id, window, rows, retracted
        self.valid: dict[str, set] = {k: set() for k in ("icp", "bulk", "summary", "output")}
        self.steps_done = False  # the writer finished every step (a failed step ends its thread)

    def record_state(self) -> None:
        mine = [v for (icp, _, _), v in self.reads.items() if icp == self.watched]
        self.valid["icp"].add((len(mine), sum(mine, Decimal(0))))
        self.valid["bulk"].add((len(self.reads), sum(self.reads.values(), Decimal(0))))
        latest: dict[str, dict] = {}
        for run in self.runs:
            if not run["retracted"]:
                for day in run["dates"]:
                    latest[day] = run
        rows = [r for day, run in latest.items() for r in run["rows"] if r["read_date"] == day]
        self.valid["output"].add((len({r["icp_id"] for r in rows}), sum((r["matched_amount"] for r in rows),
                                                                        Decimal(0))))
        self.valid["summary"].add(sum((r["matched_amount"] for r in rows
                                       if r["icp_id"] == self.watched and r["buyer_seller"] == "buyer"), Decimal(0)))


def initial_reads(lake: Lake) -> dict[Key, Decimal]:
    table = pa.Table.from_batches(list(read_bulk(lake, DATES[0], DATES[-1]).batches))
    return {(r["icp_id"], r["read_timestamp"], r["energy_flow_direction"]): r["interval_read"]
            for r in table.to_pylist()}


def writer(lake: Lake, model: Model, folder: Path, rounds: int, rng: random.Random, stop: threading.Event) -> None:
    icps = sorted({k[0] for k in model.reads})
    n = 0

    def revise(count: int, new_icp: str | None = None) -> None:
        nonlocal n
        n += 1
        keys = rng.sample(sorted(model.reads), count) + [k for k in sorted(model.reads) if k[0] == model.watched][:5]
        rows = []
        for icp, ts, direction in keys:
            value = Decimal(rng.randint(0, 5000)) / 1000
            rows.append((nz_text(ts), f"{value:.3f}", direction, icp))
            model.reads[(icp, ts, direction)] = value
        if new_icp:
            fresh = day_rows(new_icp, rng.choice(DATES), seed=n)
            rows += fresh
            for ts_text, value, direction, icp in fresh:
                ts = dt.datetime.fromisoformat(ts_text + ":00").astimezone(dt.UTC)
                model.reads[(icp, ts, direction)] = Decimal(value)
        ingest_file(lake, write_csv(folder / f"delivery-{n}.csv", rows), actor="test-writer")

    def publish(first: int, last: int) -> None:
        nonlocal n
        n += 1
        window = DATES[first:last + 1]
        rows = interval_rows(icps, window, seed=n)
        record = runs.create_run(lake, start=window[0], end=window[-1], algorithm="m", version=str(n))
        runs.upload_part(lake, record["run_id"], 1, write_output_csv(folder / f"run-{n}.csv", rows, with_period=True))
        # The ICPs that revise() adds have raw reads but no output here: a partial run on purpose.
        runs.publish_run(lake, record["run_id"], actor="test-writer", allow_partial=True)
        model.runs.append({"run_id": record["run_id"], "dates": [d.isoformat() for d in window], "rows": rows,
                           "retracted": False})

    def retract(index: int) -> None:
        live = [r for r in model.runs if not r["retracted"]]
        if live:
            run = live[index % len(live)]
            runs.retract_run(lake, run["run_id"], actor="test-writer")
            run["retracted"] = True

    steps: list[Callable[[], object]] = [
        lambda: revise(40), lambda: publish(0, 2), lambda: revise(20), lambda: publish(1, 2),
        lambda: compact(lake, min_files=2, actor="test-writer"), lambda: revise(30, new_icp=f"NEW{n}"),
        lambda: retract(-1), lambda: publish(0, 1), lambda: compact(lake, min_files=2), lambda: retract(0),
        lambda: revise(25),
    ]
    try:
        for _ in range(rounds):
            for step in steps:
                step()
                model.record_state()
                time.sleep(0.05)
        model.steps_done = True
    finally:
        stop.set()


def decimal_sum(values: list[str]) -> Decimal:
    return sum((Decimal(v) for v in values), Decimal(0))


def arrow(response: httpx.Response) -> pa.Table:
    response.raise_for_status()
    return ipc.open_stream(io.BytesIO(response.content)).read_all()


def ask(http: httpx.Client, kind: str, watched: str) -> object:
    if kind == "icp":
        r = http.get(f"/v1/icps/{watched}/reads", params=R)
        r.raise_for_status()
        reads = r.json()["reads"]
        return len(reads), decimal_sum([x["interval_read"] for x in reads])
    if kind == "bulk":
        table = arrow(http.get("/v1/reads", params=R))
        return table.num_rows, pc.sum(table["interval_read"]).as_py() if table.num_rows else Decimal(0)
    if kind == "summary":
        r = http.get(f"/v1/icps/{watched}/output/summary", params={**R, "buyer_seller": "buyer", "granularity": "day"})
        r.raise_for_status()
        return decimal_sum([x["matched_amount"] for x in r.json()["items"]])
    if kind == "output-arrow":
        table = arrow(http.get("/v1/output", params={**R, "by": "icp_id", "format": "arrow"}))
        total = pc.sum(table["matched_amount"]).as_py() if table.num_rows else None
        return table.num_rows, total if total is not None else Decimal(0)
    items, cursor = [], None  # output by key, paged: the cursor pins the runs of the first page
    while True:
        r = http.get("/v1/output", params={**R, "by": "icp_id", "limit": 7, **({"cursor": cursor} if cursor else {})})
        r.raise_for_status()
        page = r.json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return len(items), decimal_sum([x["matched_amount"] for x in items])


def reader(url: str, watched: str, seed: int, stop: threading.Event, answers: list, errors: list) -> None:
    rng = random.Random(seed)
    kinds = ["icp", "bulk", "summary", "output-arrow", "output-paged"]
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            kind = rng.choice(kinds)
            try:
                answers.append((kind, ask(http, kind, watched)))
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                errors.append(f"{kind}: {e!r}")


@pytest.mark.parametrize("rounds", [1, pytest.param(6, marks=pytest.mark.slow)])
def test_readers_see_only_committed_states_while_writers_commit(tmp_path: Path, rounds: int) -> None:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=20, days=len(DATES), start=START, seed=8)
    reads = initial_reads(lake)
    model = Model(reads, watched=sorted({k[0] for k in reads})[3])
    model.record_state()
    stop = threading.Event()
    answers: list[tuple[str, object]] = []
    errors: list[str] = []
    with serve(lake.root) as url:
        threads = [threading.Thread(target=reader, args=(url, model.watched, i, stop, answers, errors))
                   for i in range(READERS)]
        for t in threads:
            t.start()
        writing = threading.Thread(target=writer, args=(lake, model, tmp_path, rounds, random.Random(rounds), stop))
        started = time.monotonic()
        writing.start()
        writing.join(timeout=240)
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
    assert not writing.is_alive()
    assert model.steps_done, "the writer stopped before its last step (see its exception)"
    assert not errors, errors[:10]
    valid = {"icp": model.valid["icp"], "bulk": model.valid["bulk"], "summary": model.valid["summary"],
             "output-arrow": model.valid["output"],
             "output-paged": model.valid["output"]}
    wrong = [(kind, answer) for kind, answer in answers if answer not in valid[kind]]
    assert not wrong, f"{len(wrong)} answers match no committed state, e.g. {wrong[:5]}"
    seen = Counter(kind for kind, _ in answers)
    distinct = {kind: len({a for k, a in answers if k == kind}) for kind in seen}
    print(f"{len(answers)} answers in {elapsed:.1f} s: {dict(seen)}; distinct states seen {distinct}")
    assert len(seen) == 5 and min(seen.values()) >= 3
    assert distinct["bulk"] >= 3 and distinct["output-paged"] >= 2  # the readers did see the lake change
