"""Compaction and vacuum: reads at every as_of give the same answer before and after, bulk
reads and the analyst views too, readers during a compaction never fail or change their
answer, and vacuum deletes only replaced files past their grace period."""
from __future__ import annotations

import datetime as dt
import threading

import pyarrow.parquet as pq
import pytest

from datalake import sql
from datalake import views
from datalake.raw.bulk import read_bulk
from datalake.maintenance.vacuum import vacuum
from datalake.raw.compaction import compact, compaction_candidates, parse_duration
from datalake.errors import InvalidArgumentError
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from tests.factories.raw import day_rows, write_csv

DAYS = [dt.date(2018, 6, 14), dt.date(2018, 6, 15)]
ICPS = ["ICP1", "ICP2", "ICP3"]


def _deliveries(lake: Lake, folder) -> list[str]:
    """Four ingests over two dates: new ICPs, revisions of earlier values, a second direction."""
    ids = []
    batches = [
        [r for d in DAYS for r in day_rows("ICP1", d) + day_rows("ICP2", d)],
        [r for d in DAYS for r in day_rows("ICP1", d, seed=2)[:20] + day_rows("ICP3", d)],
        [r for r in day_rows("ICP1", DAYS[0], seed=3)[10:30] + day_rows("ICP2", DAYS[0], "I")],
        [r for r in day_rows("ICP3", DAYS[1], seed=4)[::3]],
    ]
    for n, rows in enumerate(batches):
        result = ingest_file(lake, write_csv(folder / f"d{n}.csv", rows))
        assert result.status == "committed"
        ids.append(result.ingest_id)
    return ids


@pytest.fixture
def revised(lake: Lake, tmp_path) -> tuple[Lake, list[str]]:
    return lake, _deliveries(lake, tmp_path)


def _reads(lake: Lake, as_of: str | None) -> dict[str, list[dict]]:
    return {icp: read_icp(lake, icp, DAYS[0], DAYS[-1], as_of=as_of).to_pylist() for icp in ICPS}


def _bulk(lake: Lake, as_of: str | None) -> list[dict]:
    return read_bulk(lake, DAYS[0], DAYS[-1], as_of=as_of).reader().read_all().to_pylist()


def _view(lake: Lake, as_of: str | None) -> list[tuple]:
    con = sql.connect()
    views.define_views(con, lake)
    source = "raw_reads" if as_of is None else f"raw_reads_as_of('{as_of}')"
    return con.sql(f"SELECT * FROM {source} ORDER BY ALL").fetchall()


def test_compaction_then_vacuum_keeps_every_as_of_read(revised):
    lake, ids = revised
    points = [None, *ids]
    before = {p: (_reads(lake, p), _bulk(lake, p), _view(lake, p)) for p in points}
    assert compaction_candidates(lake) == DAYS
    results = compact(lake, actor="test")
    assert [r.status for r in results] == ["committed", "committed"]
    assert len(lake.raw_files()) == 2 and lake.head_ingest() == ids[-1]
    assert [r["ingest_id"] for r in lake.ingests()] == ids      # compactions are not ingests
    removed = vacuum(lake, older_than=dt.timedelta(0))
    assert len(removed.removed) == 6 and all(not (lake.root / p).exists() for p in removed.removed)
    lake = Lake(lake.root)  # a fresh handle replays the records from disk
    for p in points:
        assert (_reads(lake, p), _bulk(lake, p), _view(lake, p)) == before[p], p
    # The compacted file is sorted and keeps every revision with its ingest id.
    first = pq.read_table(lake.raw_files(DAYS[0], DAYS[0])[0].path)
    keys = list(zip(first["icp_id"].to_pylist(), first["read_timestamp"].to_pylist(),
                    first["energy_flow_direction"].to_pylist()))
    assert keys == sorted(keys) and len(set(first["ingest_id"].to_pylist())) == 3


def test_ingest_after_compaction_revises_on_top(revised, tmp_path):
    lake, ids = revised
    compact(lake)
    rows = day_rows("ICP1", DAYS[0], seed=9)[:5]
    result = ingest_file(lake, write_csv(tmp_path / "later.csv", rows))
    assert result.rows_revised == 5 and result.rows_new == 0
    got = read_icp(lake, "ICP1", DAYS[0], DAYS[0])
    assert [str(v) for v in got["interval_read"].to_pylist()[:5]] == [r[1] for r in rows]
    assert _view(lake, None) == sorted(_view(lake, None))  # views still one row per key
    assert len(_view(lake, None)) == len({(r[0], r[3], r[4]) for r in _view(lake, None)})
    # A second compaction merges the compacted file with the new ingest's.
    assert [r.status for r in compact(lake, [DAYS[0]])] == ["committed"]
    assert read_icp(lake, "ICP1", DAYS[0], DAYS[0]) == got


def test_readers_during_compaction_always_see_the_same_answer(revised):
    lake, ids = revised
    expected = _reads(lake, None)
    old = _reads(lake, ids[1])
    errors: list[BaseException] = []
    answers = set()
    stop = threading.Event()

    def reader() -> None:
        reader_lake = Lake(lake.root)
        while not stop.is_set():
            try:
                assert {i: read_icp(reader_lake, i, DAYS[0], DAYS[-1]).to_pylist()
                        for i in ICPS} == expected
                assert {i: read_icp(reader_lake, i, DAYS[0], DAYS[-1], as_of=ids[1]).to_pylist()
                        for i in ICPS} == old
                answers.add(len(reader_lake.raw_files()))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for n in range(3):
            compact(lake, min_files=2)
            # Another ICP's reads: the readers' answers stay the same.
            ingest_file(lake, write_csv(lake.root.parent / f"other{n}.csv", day_rows("ICP9", DAYS[0], seed=n)))
            vacuum(lake, older_than=dt.timedelta(hours=1))  # keeps what readers may hold
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert answers  # the readers ran


def test_vacuum_keeps_files_within_the_grace_period(revised):
    lake, _ = revised
    compact(lake)
    kept = vacuum(lake, older_than=parse_duration("1h"))
    assert kept.removed == [] and len(kept.waiting) == 6
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert len(vacuum(lake, older_than=parse_duration("1h"), dry_run=True, now=later).removed) == 6
    assert len(vacuum(lake, older_than=parse_duration("1h"), now=later).removed) == 6
    assert vacuum(lake, older_than=parse_duration("1h"), now=later).removed == []  # idempotent


def test_compact_and_vacuum_commands(revised, cli):
    lake, _ = revised
    done = cli("--lake", lake.root, "compact", "--date", "2018-06-15")
    assert done.code == 0 and "2018-06-15: 3 files ->" in done.out
    assert cli("--lake", lake.root, "compact", "--date", "2018-06-15").out.startswith("2018-06-15: nothing")
    done = cli("--lake", lake.root, "vacuum", "--older-than", "0s")
    assert done.code == 0 and done.out.startswith("removed 3 replaced file(s)")
    assert cli("--lake", lake.root, "vacuum", "--older-than", "soon").code == 2
    assert cli("--lake", lake.root, "check").code == 0


def test_parse_duration():
    assert parse_duration("90s") == dt.timedelta(seconds=90)
    assert parse_duration("7d") == dt.timedelta(days=7)
    for bad in ("", "1", "1w", "-1h", "1.5h"):
        with pytest.raises(InvalidArgumentError):
            parse_duration(bad)


def test_polars_recipe_reads_a_compacted_lake(revised, monkeypatch):
    """The documented Polars recipe replays compaction records: after compact and vacuum it
    still equals the views (no replaced file read, none missing)."""
    from tests.datalake.test_polars_recipe import recipe

    lake, _ = revised
    compact(lake)
    vacuum(lake, older_than=dt.timedelta(0))
    monkeypatch.setenv("METERLAKE_LAKE", str(lake.root))
    ns: dict = {}
    exec(recipe("polars-raw"), ns)
    con = sql.connect()
    views.define_views(con, lake)
    expected = con.sql("""SELECT read_date, energy_flow_direction, count(*), sum(interval_read)
                          FROM raw_reads GROUP BY ALL ORDER BY ALL""").fetchall()
    assert [tuple(r) for r in ns["daily"].iter_rows()] == expected
    assert con.sql("SELECT count(*) FROM raw_files").fetchall() == [(2,)]
