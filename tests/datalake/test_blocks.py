"""Raw reads from block files: one ICP and the bulk stream answer exactly as the documented
plain-DuckDB recipe over the Parquet files does, for any as_of, direction and shard, after
revisions and after compaction; the block files are written with each commit."""
from __future__ import annotations

import datetime as dt
import random

import duckdb
import pyarrow as pa
import pytest

from datalake.storage import blocks
from datalake.raw.bulk import BULK_READS_DICTIONARY_SCHEMA, BULK_READS_SCHEMA, read_bulk, shard_of
from datalake.maintenance.vacuum import vacuum
from datalake.raw.blocks import write_raw_blocks
from datalake.raw.compaction import compact
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import ICP_READS_SCHEMA, read_icp
from tests.factories.raw import day_rows, write_csv

DAYS = [dt.date(2018, 6, d) for d in (12, 13, 14)]
LATEST = """
    SELECT icp_id, read_timestamp, read_date, trading_period, interval_read, energy_flow_direction, ingest_id
    FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id <= $as_of AND ($icp IS NULL OR icp_id = $icp) AND ($direction IS NULL OR energy_flow_direction = $direction)
    QUALIFY row_number() OVER (PARTITION BY icp_id, read_timestamp, energy_flow_direction ORDER BY ingest_id DESC) = 1
    ORDER BY icp_id, read_timestamp, energy_flow_direction"""


def plain(lake: Lake, start, end, *, icp=None, direction=None, as_of=None) -> pa.Table:
    """The analysts' recipe (docs/analysts.md), independent of the engine."""
    start, end = (dt.date.fromisoformat(d) if isinstance(d, str) else d for d in (start, end))
    files = [str(f.path) for f in lake.raw_files(start, end, as_of)]
    if not files:
        return ICP_READS_SCHEMA.empty_table()
    return duckdb.connect().sql(LATEST, params={"files": files, "as_of": as_of or lake.head_ingest(), "icp": icp,
                                                "direction": direction}).to_arrow_table()


def deliver(lake: Lake, tmp_path, name: str, icps: list[str], seed: int, days=DAYS):
    rows = [r for icp in icps for day in days for d in ("I", "X") for r in day_rows(icp, day, d, seed=seed)]
    return ingest_file(lake, write_csv(tmp_path / f"{name}.csv", rows)).ingest_id


def assert_same_answers(lake: Lake, icps: list[str], ingests: list[str]):
    for icp in icps:
        for start, end in ((DAYS[0], DAYS[-1]), (DAYS[1], DAYS[1])):
            for direction in (None, "X"):
                for as_of in (None, *ingests):
                    got = read_icp(lake, icp, start, end, direction=direction, as_of=as_of)
                    want = plain(lake, start, end, icp=icp, direction=direction, as_of=as_of)
                    assert got.equals(want.drop_columns(["icp_id"]).cast(ICP_READS_SCHEMA)), \
                        (icp, start, end, direction, as_of)


@pytest.fixture
def revised_lake(lake, tmp_path):
    icps = [f"ICP{i}" for i in range(6)]
    first = deliver(lake, tmp_path, "first", icps, seed=1)
    second = deliver(lake, tmp_path, "second", icps[:3], seed=2)  # revisions of half the ICPs
    return lake, icps, [first, second]


def test_every_raw_file_has_its_block_file(revised_lake):
    lake, _, _ = revised_lake
    for f in lake.raw_files():
        opened = blocks.BlockFile.open(lake.layout.blocks_of(f.path))
        assert opened.facts == {"kind": "raw", "read_date": f.read_date.isoformat(), "rows": f.rows, "format": 1}


def test_a_delivery_writes_the_block_file_its_parquet_gives(lake, tmp_path):
    """The fast path writes the block file from the rows in memory; it is the one written
    again from the Parquet file (as compaction and `check --repair` write it)."""
    deliver(lake, tmp_path, "first", [f"ICP{i}" for i in (3, 1, 20, 2)], seed=5)
    for f in lake.raw_files():
        again = tmp_path / f"{f.read_date}.blocks"
        write_raw_blocks(f.path, again, f.read_date)
        assert again.read_bytes() == lake.layout.blocks_of(f.path).read_bytes()


def test_one_icp_matches_plain_duckdb(revised_lake, tmp_path):
    lake, icps, ingests = revised_lake
    assert_same_answers(lake, icps + ["NOBODY"], ingests)
    third = deliver(lake, tmp_path, "third", icps[2:5], seed=3)
    new_icp = deliver(lake, tmp_path, "new", ["NEW1"], seed=4, days=[dt.date(2018, 6, 15)])
    assert_same_answers(lake, icps + ["NEW1"], [*ingests, third, new_icp])


def test_compaction_and_vacuum_keep_every_answer(revised_lake):
    lake, icps, ingests = revised_lake
    before = {(i, a): read_icp(lake, i, DAYS[0], DAYS[-1], as_of=a) for i in icps for a in (None, *ingests)}
    compact(lake, dates=DAYS)
    assert all(not f.unique_keys for f in lake.raw_files())
    assert_same_answers(lake, icps, ingests)
    vacuum(lake, older_than=dt.timedelta(0))
    assert len(list(lake.layout.blocks_dir.glob("raw/*/*"))) == len(DAYS)
    assert {k: read_icp(lake, k[0], DAYS[0], DAYS[-1], as_of=k[1]) for k in before} == before


def test_generated_lake(small_lake):
    icps = plain(small_lake, "2018-06-01", "2018-06-01").column("icp_id").unique().to_pylist()
    for icp in random.Random(3).sample(icps, 10):
        got = read_icp(small_lake, icp, "2018-06-01", "2018-06-14")
        assert got.num_rows >= 14 * 48
        want = plain(small_lake, "2018-06-01", "2018-06-14", icp=icp)
        assert got.equals(want.drop_columns(["icp_id"]).cast(ICP_READS_SCHEMA))


def bulk_table(lake: Lake, **kwargs) -> pa.Table:
    kwargs = {"start": DAYS[0], "end": DAYS[-1], **kwargs}
    return read_bulk(lake, kwargs.pop("start"), kwargs.pop("end"), **kwargs).reader().read_all()


def plain_bulk(lake: Lake, start=DAYS[0], end=DAYS[-1], shard=None, **kwargs) -> pa.Table:
    table = plain(lake, start, end, **kwargs).drop_columns(["ingest_id"])
    if shard is not None:
        k, n = map(int, shard.split("/"))
        table = table.filter(pa.array([shard_of(i, n) == k for i in table["icp_id"].to_pylist()], pa.bool_()))
    return table.cast(BULK_READS_SCHEMA)


BULK_CASES = [dict(), dict(direction="I"), dict(shard="1/3"), dict(shard="2/3", direction="X"),
              dict(start=DAYS[1], end=DAYS[1])]


def assert_bulk_matches(lake: Lake, cases: list[dict], **options) -> None:
    for case in cases:
        want = plain_bulk(lake, **case)
        got = bulk_table(lake, **case, **options)
        assert got.num_rows > 0 and got.equals(want), case
        dictionary = bulk_table(lake, dictionary=True, **case, **options)
        assert dictionary.schema == BULK_READS_DICTIONARY_SCHEMA
        assert dictionary.cast(BULK_READS_SCHEMA).equals(want), case


def test_bulk_matches_plain_duckdb(revised_lake, tmp_path):
    lake, icps, ingests = revised_lake
    assert_bulk_matches(lake, BULK_CASES + [dict(as_of=ingests[0])])
    shards = [bulk_table(lake, shard=f"{k}/4") for k in range(4)]
    assert sum(t.num_rows for t in shards) == bulk_table(lake).num_rows
    deliver(lake, tmp_path, "third", icps[:2], seed=9)
    compact(lake, dates=DAYS[:1])  # one date compacted, the others still one file an ingest
    assert_bulk_matches(lake, BULK_CASES + [dict(as_of=ingests[0])])


def test_bulk_ranges_cut_inside_blocks_and_batches(tmp_path):
    """Small ranges and batches: ranges end inside blocks of other dates, batches inside ICPs."""
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=300, days=3, start=dt.date(2018, 6, 1), seed=5)
    deliver(lake, tmp_path, "late", ["0000000001XX0AA", "ZZZ"], seed=6, days=[dt.date(2018, 6, 2)])
    cases = [dict(start="2018-06-01", end="2018-06-03", **c) for c in (dict(), dict(shard="1/3"), dict(direction="I"))]
    assert_bulk_matches(lake, cases, chunk_rows=3000, batch_rows=1000)
    stream = read_bulk(lake, "2018-06-01", "2018-06-03", chunk_rows=3000, batch_rows=1000)
    assert len(list(stream.batches)) > 10


def test_bulk_with_ids_of_different_lengths(lake, tmp_path):
    icps = ["A1", "B", "ICP0000000000X9", "MID123"]
    first = deliver(lake, tmp_path, "first", icps, seed=3)
    deliver(lake, tmp_path, "second", icps[1:3], seed=4)
    assert_bulk_matches(lake, BULK_CASES + [dict(as_of=first)], chunk_rows=100, batch_rows=61)
    assert sorted(set(bulk_table(lake).column("icp_id").to_pylist())) == sorted(icps)


def test_damaged_block_file_is_an_error_that_names_it(revised_lake):
    lake, icps, _ = revised_lake
    path = lake.layout.blocks_of(lake.raw_files()[0].path)
    path.write_bytes(path.read_bytes()[:-3])
    blocks.footers._files.clear()
    with pytest.raises(blocks.BlockFileError, match=path.name):
        read_icp(lake, icps[0], DAYS[0], DAYS[-1])


def test_check_finds_a_damaged_block_file_and_repair_writes_it_again(revised_lake):
    from datalake.maintenance.check import check_lake

    lake, icps, _ = revised_lake
    expected = read_icp(lake, icps[0], DAYS[0], DAYS[-1])
    path = lake.layout.blocks_of(lake.raw_files()[0].path)
    path.write_bytes(b"not a block file")
    report = check_lake(lake)
    assert not report.ok and any(path.name in p and "check --repair" in p for p in report.problems)
    path.unlink()
    repaired = check_lake(lake, repair=True)
    assert any(path.name in p for p in repaired.leftovers)
    assert check_lake(lake).ok and path.exists()
    blocks.footers._files.clear()
    assert read_icp(lake, icps[0], DAYS[0], DAYS[-1]).equals(expected)


def test_the_serving_folder_of_format_1_is_a_leftover_that_check_and_vacuum_remove(revised_lake, cli):
    lake, _, _ = revised_lake
    old = lake.layout.serving_dir / "raw-ing-00000002"
    old.mkdir(parents=True)
    (old / "reads.arrow").write_bytes(b"x" * 1000)
    result = cli("--lake", lake.root, "check")
    assert result.code == 0 and "_serving" in result.out and "remove with --repair" in result.out
    assert old.exists()
    assert cli("--lake", lake.root, "check", "--repair").code == 0 and not lake.layout.serving_dir.exists()
    old.mkdir(parents=True)
    assert cli("--lake", lake.root, "vacuum", "--older-than", "1h").code == 0
    assert not lake.layout.serving_dir.exists()


def test_warm_up_opens_the_footers_of_the_newest_dates(small_lake):
    from datalake.raw.reads import warm_up

    blocks.footers._files.clear()
    warm_up(small_lake, days=3)
    newest = sorted({f.read_date for f in small_lake.raw_files()})[-3:]
    assert set(blocks.footers._files) == {str(f.blocks) for f in small_lake.raw_files() if f.read_date in newest}
