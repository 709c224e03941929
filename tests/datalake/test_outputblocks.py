"""The block files of published output: written by publish in the run's commit (and
discarded with it when it fails), the same rows as the Parquet, refused for files they
cannot hold, and the only source of the output queries, whose answers need no warm-up."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datalake.storage import blocks
from datalake.storage import commit
from datalake.output import reads as output
from datalake.output import blocks as outputblocks
from datalake import runs
from datalake import schema
from datalake.errors import LakeFormatError
from datalake.lake import Lake
from tests.factories.output import days, interval_rows, publish_rows, write_csv

D = dt.date(2018, 6, 1)
ICPS = ["0000012345TR9A1", "0000067890UN2B2", "101", "ICP7"]


def block_rows(path: Path) -> list[tuple]:
    """Every row of a block file as (icp_id, trading_period, buyer_seller, unscaled amount)."""
    bf = blocks.BlockFile.open(path)
    rows = []
    for i in range(len(bf.firsts)):
        block = bf.read_block(i)
        for k, icp in enumerate(block.ids):
            lo, hi = int(block.row_offsets[k]), int(block.row_offsets[k + 1])
            rows += [(icp.decode(), int(p), schema.BUYER_SELLER[c], int(v))
                     for p, c, v in zip(block.period[lo:hi], block.code[lo:hi], block.value(lo, hi))]
    return rows


def parquet_rows(path: Path) -> list[tuple]:
    table = pq.ParquetFile(path).read(columns=["icp_id", "trading_period", "buyer_seller", "matched_amount"])
    amounts = outputblocks.unscaled(table["matched_amount"])
    return [(i, p, s, int(a)) for (i, p, s), a in zip(zip(table["icp_id"].to_pylist(), table["trading_period"].to_pylist(),
                                                          table["buyer_seller"].to_pylist()), amounts)]


def test_publish_writes_a_block_file_for_every_output_file(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    rows = [r for r in interval_rows(ICPS, days(D, 3)) if r["icp_id"] != "ICP7" or r["buyer_seller"] == "seller"]
    record = publish_rows(lake, tmp_path, rows, D, D + dt.timedelta(days=2), parts=2)
    assert len(record["files"]) == 3
    for f in record["files"]:
        data = lake.root / f["path"]
        path = lake.layout.blocks_of(data)
        assert path.is_file() and "blocks_bytes" not in f  # found by its data file's path
        bf = blocks.footers.get(path)
        assert bf.facts["kind"] == "output" and bf.facts["run_id"] == record["run_id"]
        assert bf.facts["read_date"] == f["read_date"] and bf.facts["rows"] == f["rows"]
        assert block_rows(path) == parquet_rows(data)
    assert runs.get_run(lake, record["run_id"])["files"] == record["files"]


def test_a_failed_publish_leaves_no_block_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake.create(tmp_path / "lake")
    run = runs.create_run(lake, start=D, end=D, algorithm="m", version="1")["run_id"]
    runs.upload_part(lake, run, 1, write_csv(tmp_path / "p.csv", interval_rows(ICPS, [D])))

    def lose(*args, **kwargs):
        raise OSError("the record write failed")

    with monkeypatch.context() as m:
        m.setattr(commit, "write_json_atomic", lose)
        with pytest.raises(OSError):
            runs.publish_run(lake, run)
    assert runs.get_run(lake, run)["status"] == "open"
    assert not [p for p in lake.layout.blocks_dir.rglob("*") if p.is_file()]
    assert not [p for p in lake.layout.output_dir.rglob("*") if p.is_file()]
    published = runs.publish_run(lake, run)
    assert all(lake.layout.blocks_of(lake.root / f["path"]).is_file() for f in published["files"])


def write_output(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.cast(schema.OUTPUT_FILE_SCHEMA), path)
    return path


def output_table(icps: list[str], periods: list[int], sides: list[str], amounts: list[int] | None = None) -> pa.Table:
    n = len(icps)
    amounts = amounts or list(range(n))
    return pa.table({
        "icp_id": icps, "read_time": ["00:00:00"] * n, "trading_period": pa.array(periods, pa.int16()),
        "matched_amount": pa.array([Decimal(a).scaleb(-schema.AMOUNT_SCALE) for a in amounts], schema.AMOUNT_DECIMAL),
        "publish_datetime": pa.array([0] * n, pa.int64()).cast(schema.TIMESTAMP), "buyer_seller": sides})


@pytest.mark.parametrize(("case", "table"), [
    ("unsorted", output_table(["B", "A"], [1, 1], ["buyer", "buyer"])),
    ("repeated key", output_table(["A", "A"], [1, 1], ["buyer", "buyer"])),
    ("period 0", output_table(["A"], [0], ["buyer"])),
    ("period 51", output_table(["A"], [51], ["buyer"])),
    ("side", output_table(["A"], [1], ["both"])),
])
def test_files_a_block_file_cannot_hold_are_refused(tmp_path: Path, case: str, table: pa.Table) -> None:
    path = write_output(tmp_path / "run_id=run-00000001" / "read_date=2018-06-01" / "part-00000.parquet", table)
    with pytest.raises(outputblocks.OutputBlocksError):
        outputblocks.write_output_blocks(path, tmp_path / "x.blocks")
    assert not (tmp_path / "x.blocks").exists()


def test_facts_come_from_the_partition_folders(tmp_path: Path) -> None:
    table = output_table(["A", "A", "B"], [1, 1, 2], ["buyer", "seller", "buyer"], [5, -7, 10 ** 17])
    path = write_output(tmp_path / "run_id=run-00000009" / "read_date=2018-06-03" / "part-00000.parquet", table)
    size = outputblocks.write_output_blocks(path, tmp_path / "b" / "x.blocks")
    assert size == (tmp_path / "b" / "x.blocks").stat().st_size
    bf = blocks.BlockFile.open(tmp_path / "b" / "x.blocks")
    assert bf.facts == {"kind": "output", "read_date": "2018-06-03", "run_id": "run-00000009", "rows": 3, "format": 1,
                        "sides": [[5 + 10 ** 17, 2], [-7, 1]]}
    assert block_rows(tmp_path / "b" / "x.blocks") == [("A", 1, "buyer", 5), ("A", 1, "seller", -7),
                                                       ("B", 2, "buyer", 10 ** 17)]
    with pytest.raises(outputblocks.OutputBlocksError):  # no partition folders to take them from
        outputblocks.write_output_blocks(write_output(tmp_path / "plain.parquet", table), tmp_path / "y.blocks")


def answers(lake: Lake) -> list:
    end = D + dt.timedelta(days=2)
    found = [output.output_summary(lake, icp, granularity=g, limit=None)[0].to_pylist()
             for icp in ICPS for g in output.GRANULARITIES]
    found += [output.output_by_key(lake, D, end, by=by)[0].to_pylist()
              for by in (["icp_id", "buyer_seller"], ["read_date"], ["buyer_seller", "icp_id", "read_date"])]
    page, cursor = output.output_by_key(lake, D, end, limit=3)
    found += [page.to_pylist(), output.output_by_key(lake, D, end, limit=3, cursor=cursor)[0].to_pylist()]
    return found


def test_answers_are_the_same_before_and_after_any_warm_up(tmp_path: Path) -> None:
    """Right after publish every answer is final: opening block files (their cache) changes
    nothing, and nothing is built meanwhile."""
    lake = Lake.create(tmp_path / "lake")
    publish_rows(lake, tmp_path, interval_rows(ICPS, days(D, 3), seed=1), D, D + dt.timedelta(days=2))
    second = publish_rows(lake, tmp_path, interval_rows(ICPS[1:3], [D + dt.timedelta(days=1)], seed=2),
                          D + dt.timedelta(days=1), D + dt.timedelta(days=1))
    blocks.footers = blocks.FooterCache()  # nothing opened yet
    cold = answers(lake)
    assert not lake.layout.serving_dir.exists()
    assert second["run_id"] in {r for rows in cold for row in rows for r in row["runs"]}
    assert answers(lake) == cold  # block files opened and cached


def test_a_run_without_block_files_is_a_lake_to_migrate(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    record = publish_rows(lake, tmp_path, interval_rows(ICPS, [D]), D, D)
    lake.layout.blocks_of(lake.root / record["files"][0]["path"]).unlink()
    blocks.footers = blocks.FooterCache()
    with pytest.raises(LakeFormatError, match="migrate"):
        output.output_summary(lake, "101")
    with pytest.raises(LakeFormatError, match="migrate"):
        output.output_by_key(lake, D, D)


def test_rows_of_one_icp_and_totals_of_a_date(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    rows = interval_rows(ICPS, days(D, 2), seed=4)
    record = publish_rows(lake, tmp_path, rows, D, D + dt.timedelta(days=1))
    sources = [s for day in sorted(record["dates"]) for s in outputblocks.run_sources(lake, record)[day]]
    assert [s.blocks_file for s in sources] == [lake.layout.blocks_of(lake.root / f["path"]) for f in record["files"]]
    got = outputblocks.icp_rows(lake, "101", sources)
    want = [r for r in rows if r["icp_id"] == "101"]
    assert len(got) == len(want) and got.runs == [record["run_id"]]
    assert got.value.tolist() == [int(r["matched_amount"] * 10000) for r in want]
    assert got.period.tolist() == [r["trading_period"] for r in want]
    totals = outputblocks.day_totals(lake, sources[:1], "0000067890UN2B2", "101", side=1)
    assert totals.icp.to_pylist() == ["0000067890UN2B2", "101"] and totals.side.tolist() == [1, 1]
    for icp, total, count in zip(totals.icp.to_pylist(), totals.value, totals.count):
        mine = [r for r in rows if r["icp_id"] == icp and r["read_date"] == D.isoformat() and r["buyer_seller"] == "seller"]
        assert count == len(mine) and total == sum(int(r["matched_amount"] * 10000) for r in mine)
    assert len(outputblocks.day_totals(lake, sources, "ICP8", None)) == 0
    assert np.array_equal(np.unique(outputblocks.day_totals(lake, sources).day), [(d - outputblocks.EPOCH).days
                                                                                   for d in days(D, 2)])


def test_check_finds_a_missing_output_block_file_and_repair_writes_it_again(tmp_path: Path) -> None:
    from datalake.maintenance.check import check_lake

    lake = Lake.create(tmp_path / "lake")
    record = publish_rows(lake, tmp_path, interval_rows(ICPS, [D]), D, D)
    expected = output.output_summary(lake, "101")[0]
    path = lake.layout.blocks_of(lake.root / record["files"][0]["path"])
    path.unlink()
    report = check_lake(lake)
    assert not report.ok and any(path.name in p for p in report.problems)
    assert any(path.name in p for p in check_lake(lake, repair=True).leftovers)
    blocks.footers = blocks.FooterCache()
    assert check_lake(lake).ok and output.output_summary(lake, "101")[0].equals(expected)


def test_a_stream_by_key_is_every_row_a_page_at_a_time(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "lake")
    publish_rows(lake, tmp_path, interval_rows(ICPS, days(D, 2), seed=3), D, D + dt.timedelta(days=1))
    end = D + dt.timedelta(days=1)
    for by in (["icp_id", "buyer_seller"], ["read_date", "icp_id"], ["buyer_seller"]):
        whole, _ = output.output_by_key(lake, D, end, by=by)
        schema_, batches = output.stream_by_key(lake, D, end, by=by, page_rows=3)
        batches = list(batches)
        assert len(batches) > 1 or whole.num_rows <= 3
        assert pa.Table.from_batches(batches, schema=schema_).equals(whole), by
