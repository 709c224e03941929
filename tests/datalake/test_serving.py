"""The raw serving index answers exactly as the lake's files do, before and after newer
commits, for any as_of, and after compaction."""
from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pytest

from datalake import serving, sql
from datalake.bulk import BULK_READS_DICTIONARY_SCHEMA, BULK_READS_SCHEMA, read_bulk
from datalake.compaction import compact
from datalake.generate import generate
from datalake.ingest import ingest_file
from datalake.lake import Lake
from datalake.reads import _read_files, read_icp
from tests.factories.raw import day_rows, write_csv

DAYS = [dt.date(2018, 6, d) for d in (12, 13, 14)]


CON = sql.connect()


def from_files(lake: Lake, icp: str, start, end, direction=None, as_of=None):
    return _read_files(lake.raw_files(start, end, as_of), icp, direction, as_of or lake.head_ingest(), CON)


def deliver(lake: Lake, tmp_path, name: str, icps: list[str], seed: int, days=DAYS):
    rows = [r for icp in icps for day in days for d in ("I", "X") for r in day_rows(icp, day, d, seed=seed)]
    return ingest_file(lake, write_csv(tmp_path / f"{name}.csv", rows)).ingest_id


def assert_same_answers(lake: Lake, icps: list[str], ingests: list[str]):
    for icp in icps:
        for start, end in ((DAYS[0], DAYS[-1]), (DAYS[1], DAYS[1])):
            for direction in (None, "X"):
                for as_of in (None, *ingests):
                    got = read_icp(lake, icp, start, end, direction=direction, as_of=as_of)
                    want = from_files(lake, icp, start, end, direction, as_of)
                    assert got.equals(want), (icp, start, end, direction, as_of)


@pytest.fixture
def revised_lake(lake, tmp_path):
    icps = [f"ICP{i}" for i in range(6)]
    first = deliver(lake, tmp_path, "first", icps, seed=1)
    second = deliver(lake, tmp_path, "second", icps[:3], seed=2)          # revisions of half the ICPs
    return lake, icps, [first, second]


def test_index_matches_files(revised_lake):
    lake, icps, ingests = revised_lake
    assert serving.build_raw_index(lake) == lake.layout.raw_index(ingests[-1])
    assert serving.index_for(lake).head == ingests[-1]
    assert_same_answers(lake, icps + ["NOBODY"], ingests)


def test_commits_after_the_index_are_overlaid(revised_lake, tmp_path):
    lake, icps, ingests = revised_lake
    serving.build_raw_index(lake)
    third = deliver(lake, tmp_path, "third", icps[2:5], seed=3)
    new_icp = deliver(lake, tmp_path, "new", ["NEW1"], seed=4, days=[dt.date(2018, 6, 15)])
    assert serving.index_for(lake).head == ingests[-1]                    # the index is stale...
    assert_same_answers(lake, icps + ["NEW1"], [*ingests, third, new_icp])  # ...yet answers are current
    serving.build_raw_index(lake)
    assert serving.index_for(lake).head == new_icp
    assert [p.name for p in lake.layout.serving_dir.glob("raw-*")] == [f"raw-{new_icp}"]
    assert_same_answers(lake, icps + ["NEW1"], [*ingests, third, new_icp])


def test_index_survives_compaction(revised_lake):
    lake, icps, ingests = revised_lake
    serving.build_raw_index(lake)
    compact(lake, dates=DAYS)
    assert_same_answers(lake, icps, ingests)
    serving.build_raw_index(lake)
    assert_same_answers(lake, icps, ingests)


def test_index_on_generated_lake(small_lake, tmp_path):
    serving.build_raw_index(small_lake)
    icps = serving.index_for(small_lake).icp_ids
    for icp in random.Random(3).sample(icps, 10):
        got = read_icp(small_lake, icp, "2018-06-01", "2018-06-14")
        assert got.num_rows >= 14 * 48
        assert got.equals(from_files(small_lake, icp, dt.date(2018, 6, 1), dt.date(2018, 6, 14)))


def bulk_table(lake: Lake, **kwargs) -> pa.Table:
    stream = read_bulk(lake, DAYS[0], DAYS[-1], **kwargs) if "start" not in kwargs else read_bulk(lake, **kwargs)
    return stream.reader().read_all()


def decoded(table: pa.Table) -> pa.Table:
    """A bulk table read with ``dictionary=True``, its dictionary columns as plain strings."""
    assert table.schema == BULK_READS_DICTIONARY_SCHEMA
    return table.cast(BULK_READS_SCHEMA)


def assert_same_dictionaries(lake: Lake, **kwargs) -> None:
    """The index path's batches share one dictionary per column, so a stream sends each once."""
    stream = read_bulk(lake, DAYS[0], DAYS[-1], dictionary=True, **kwargs)
    assert stream.same_dictionaries
    batches = list(stream.batches)
    assert len(batches) > 1
    for column in ("icp_id", "energy_flow_direction"):
        assert len({id(b.column(column).dictionary) for b in batches}) == 1


BULK_CASES = [dict(), dict(direction="I"), dict(shard="1/3"), dict(shard="2/3", direction="X"),
              dict(start=DAYS[1], end=DAYS[1])]


def test_bulk_stream_from_index_equals_files(revised_lake, tmp_path):
    lake, icps, ingests = revised_lake
    cases = BULK_CASES + [dict(as_of=ingests[0])]
    expected = [bulk_table(lake, **case) for case in cases]             # no index yet: from the files
    # Small slices and batches: index batches end inside ICPs and inside a key's revisions.
    serving.build_raw_index(lake, slice_rows=500, batch_rows=97)
    assert lake.layout.raw_index(ingests[-1]).joinpath("reads.arrow").stat().st_size > 0
    for case, want in zip(cases, expected):
        got = bulk_table(lake, **case)
        assert got.num_rows > 0 and got.equals(want), case
        assert decoded(bulk_table(lake, dictionary=True, **case)).equals(want), case
    assert_same_dictionaries(lake)
    assert_same_answers(lake, icps, ingests)  # one ICP's rows span several index batches
    shards = [bulk_table(lake, shard=f"{k}/4") for k in range(4)]
    assert sum(t.num_rows for t in shards) == expected[0].num_rows
    # A commit newer than the index: the stream falls back to the files and stays exact.
    deliver(lake, tmp_path, "third", icps[:2], seed=9)
    assert bulk_table(lake).num_rows == expected[0].num_rows
    assert not bulk_table(lake).equals(expected[0])
    assert not read_bulk(lake, DAYS[0], DAYS[-1], dictionary=True).same_dictionaries
    assert decoded(bulk_table(lake, dictionary=True)).equals(bulk_table(lake))


def test_bulk_stream_across_many_index_batches(small_lake, tmp_path):
    """Index batches that end inside an ICP: the stream carries the rest into the next batch."""
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=300, days=3, start=dt.date(2018, 6, 1), seed=5)
    cases = [dict(), dict(shard="1/3"), dict(direction="I")]
    expected = [read_bulk(lake, "2018-06-01", "2018-06-03", **c).reader().read_all() for c in cases]
    folder = serving.build_raw_index(lake, slice_rows=5000, batch_rows=3000)
    assert pa.ipc.open_file(pa.OSFile(str(folder / "reads.arrow"))).num_record_batches > 10
    for case, want in zip(cases, expected):
        assert read_bulk(lake, "2018-06-01", "2018-06-03", **case).reader().read_all().equals(want), case


def test_output_summary_from_run_indexes_equals_files(tmp_path):
    """Two overlapping runs, one retracted later: summaries (every granularity, side, page)
    from the run indexes equal those from the files."""
    from datalake import output, runs
    from tests.factories.output import days, interval_rows, publish_rows

    lake = Lake.create(tmp_path / "lake")
    icps = ["101", "102", "103"]
    first = publish_rows(lake, tmp_path, interval_rows(icps, days(dt.date(2018, 6, 1), 6), seed=1),
                         "2018-06-01", "2018-06-06")
    second = publish_rows(lake, tmp_path, interval_rows(icps[:2], days(dt.date(2018, 6, 4), 3), seed=2),
                          "2018-06-04", "2018-06-06", parts=2)
    cases = [dict(granularity="interval", limit=None), dict(granularity="day", buyer_seller="seller", limit=None),
             dict(granularity="week", limit=None), dict(granularity="month", limit=None),
             dict(granularity="interval", limit=29),
             dict(start="2018-06-03", end="2018-06-05", run=first["run_id"], limit=None)]

    def all_pages(icp, **kw):
        pages, cursor = [], None
        while True:
            table, cursor = output.output_summary(lake, icp, cursor=cursor, **kw)
            pages.append(table)
            if cursor is None or kw.get("limit") is None:
                return pa.concat_tables(pages)

    expected = {(icp, i): all_pages(icp, **c) for icp in icps for i, c in enumerate(cases)}
    for run in (first, second):
        serving.build_output_index(lake, run["run_id"])
    assert serving.output_rows(lake, "101", {dt.date(2018, 6, 1): first["run_id"]}) is not None
    for (icp, i), want in expected.items():
        got = all_pages(icp, **cases[i])
        assert got.num_rows > 0 and got.equals(want), (icp, cases[i])
    runs.retract_run(lake, second["run_id"])
    table, _ = output.output_summary(lake, "101", limit=None)
    assert {r for row in table["runs"].to_pylist() for r in row} == {first["run_id"]}


def test_bulk_stream_with_ids_of_different_lengths(lake, tmp_path):
    """The bulk stream writes ids out from a fixed-width byte table: short ids keep their length."""
    icps = ["A1", "B", "ICP0000000000X9", "MID123"]
    first = deliver(lake, tmp_path, "first", icps, seed=3)
    deliver(lake, tmp_path, "second", icps[1:3], seed=4)
    cases = BULK_CASES + [dict(as_of=first)]
    expected = [bulk_table(lake, **case) for case in cases]
    serving.build_raw_index(lake, slice_rows=200, batch_rows=61)
    for case, want in zip(cases, expected):
        got = bulk_table(lake, **case)
        assert got.equals(want), case
        assert decoded(bulk_table(lake, dictionary=True, **case)).equals(want), case
    assert sorted(set(bulk_table(lake).column("icp_id").to_pylist())) == sorted(icps)


def test_repeated_strings_and_direction_strings():
    import numpy as np

    ids = np.array([b"AB", b"C", b"DEF"])
    table = ids.view(np.uint8).reshape(3, ids.itemsize)
    got = serving._repeated_strings(table, np.array([2, 1, 3], np.int32), np.array([2, 0, 3]))
    assert got.to_pylist() == ["AB", "AB", "DEF", "DEF", "DEF"]
    same = serving._repeated_strings(table[[0]], np.array([2], np.int32), np.array([3]))
    assert same.to_pylist() == ["AB"] * 3
    assert serving._direction_strings(np.array([0, 1, 1, 0], np.int8)).to_pylist() == ["I", "X", "X", "I"]
