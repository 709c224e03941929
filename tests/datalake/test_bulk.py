"""Bulk raw reads: every latest row once, in (icp_id, time) order, in slices; shards
partition the ICPs by a hash any client can compute."""
from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datalake.raw.bulk import parse_shard, read_bulk, shard_of
from datalake.errors import InvalidArgumentError
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from tests.factories.raw import day_rows, write_csv

START = dt.date(2018, 6, 1)
KEY = ["icp_id", "read_timestamp", "energy_flow_direction"]


@pytest.fixture(scope="module")
def revised_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """40 ICPs x 2 days, then a revision of one ICP's second day and a new ICP."""
    root = tmp_path_factory.mktemp("bulk")
    lake = Lake.create(root / "lake")
    generate(lake, icps=40, days=2, start=START, seed=4)
    first = read_bulk(lake, START, START, chunk_rows=10**9).reader().read_all()["icp_id"][0].as_py()
    rows = day_rows(first, START + dt.timedelta(days=1), seed=9) + day_rows("ZZNEW1", START)
    ingest_file(lake, write_csv(root / "revision.csv", rows))
    return lake


def everything(lake: Lake, **kwargs) -> pa.Table:
    return read_bulk(lake, START, START + dt.timedelta(days=1), **kwargs).reader().read_all()


def test_every_row_is_the_latest_revision_in_order(revised_lake: Lake) -> None:
    table = everything(revised_lake, chunk_rows=500)  # many slices
    assert table.num_rows == len(set(zip(*(table[k].to_pylist() for k in KEY))))
    assert table.select(KEY).to_pylist() == table.sort_by([(k, "ascending") for k in KEY]).select(KEY).to_pylist()
    for icp in ("ZZNEW1", table["icp_id"][0].as_py()):
        expected = read_icp(revised_lake, icp, START, START + dt.timedelta(days=1))
        got = table.filter(pa.compute.equal(table["icp_id"], icp))
        assert got["interval_read"].to_pylist() == expected["interval_read"].to_pylist()
    assert everything(revised_lake, chunk_rows=10**9).equals(table)


def test_as_of_reads_the_earlier_snapshot(revised_lake: Lake) -> None:
    before = read_bulk(revised_lake, START, START, as_of="ing-00000001")
    assert before.as_of == "ing-00000001"
    assert "ZZNEW1" not in before.reader().read_all()["icp_id"].to_pylist()


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 9), direction=st.sampled_from([None, "I", "X"]))
def test_shards_partition_every_row_exactly_once(revised_lake: Lake, n: int, direction: str | None) -> None:
    whole = everything(revised_lake, direction=direction)
    parts = [everything(revised_lake, direction=direction, shard=f"{k}/{n}", chunk_rows=700) for k in range(n)]
    for k, part in enumerate(parts):
        assert {shard_of(i, n) for i in part["icp_id"].to_pylist()} <= {k}
    assert pa.concat_tables(parts).sort_by([(c, "ascending") for c in KEY]).equals(whole)


def test_shard_of_is_the_first_eight_hex_digits_of_md5() -> None:
    assert shard_of("abc", 1 << 32) == 0x90015098
    assert shard_of("0000012345TR9A1", 4) == int(hashlib.md5(b"0000012345TR9A1").hexdigest()[:8], 16) % 4


@pytest.mark.parametrize("bad", ["4/4", "-1/4", "1/0", "a/b", "1", "1/5000", ""])
def test_bad_shards_are_invalid_arguments(bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as e:
        parse_shard(bad)
    assert e.value.field == "shard"


def test_empty_lake_and_range(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    bulk = read_bulk(lake, START, START)
    assert bulk.as_of is None and bulk.reader().read_all().num_rows == 0


def test_shards_read_at_once_share_their_ranges_and_keep_their_own_icps(revised_lake: Lake) -> None:
    """Four shards streamed in parallel threads (each range made once, for all of them) give
    what each gives alone, and a shard's dictionary holds only its own ICPs."""
    alone = [everything(revised_lake, shard=f"{k}/4", dictionary=True, chunk_rows=900) for k in range(4)]
    together: list = [None] * 4

    def read(k: int) -> None:
        together[k] = everything(revised_lake, shard=f"{k}/4", dictionary=True, chunk_rows=900)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(read, range(4)))
    for k in range(4):
        assert together[k].equals(alone[k])
        for chunk in together[k]["icp_id"].chunks:
            assert {shard_of(i, 4) for i in chunk.dictionary.to_pylist()} == {k}
