"""The fast write paths: clean deliveries and typed run parts skip DuckDB, and anything
unusual (a bad row, a repeated key, an unsorted part) still gets the exact result and
error report of the general path, with the lake unchanged after a failure."""
from __future__ import annotations

import json

import datetime as dt
import random
import time
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pyarrow.parquet as pq

import pytest

from datalake.raw import ingest as ingest_module
from datalake import runs
from datalake.delivery import sources
from datalake.errors import ValidationError
from datalake.raw import typed as typed_module
from datalake.raw.ingest import ingest_file
from datalake.prefetch import mapped, prefetched
from datalake.lake import Lake
from tests.factories import output as out_factory
from tests.factories.raw import day_rows, write_csv

JUNE = dt.date(2018, 6, 1)


def raw_rows(icps: int, days: int) -> list[tuple[str, str, str, str]]:
    return [row for i in range(icps) for d in range(days) for direction in ("I", "X")
            for row in day_rows(f"ICP{i:03d}", JUNE + dt.timedelta(days=d), direction)]


def stored(lake: Lake) -> list[tuple]:
    files = [str(f.path) for f in lake.raw_files()]
    return duckdb.execute("SELECT icp_id, read_timestamp, energy_flow_direction, interval_read::VARCHAR, "
                          "trading_period FROM read_parquet($f) ORDER BY ALL", {"f": files}).fetchall()


def lake_files(lake: Lake) -> set[str]:
    return {p.relative_to(lake.root).as_posix() for p in lake.root.rglob("*") if p.is_file()
            and "_staging" not in p.parts}


@pytest.fixture
def no_general_path(monkeypatch):
    """Fail the test if the general (DuckDB) ingest path is taken."""
    def refuse(*args, **kwargs):
        raise AssertionError("the general ingest path was taken")
    monkeypatch.setattr(ingest_module, "load", refuse)


def test_clean_unsorted_delivery_takes_the_fast_path_and_stores_sorted_files(lake, tmp_path, no_general_path,
                                                                            monkeypatch):
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 4096)  # many blocks: carried partial lines
    rows = raw_rows(6, 3)
    random.Random(3).shuffle(rows)
    result = ingest_file(lake, write_csv(tmp_path / "r.csv", rows))
    assert result.status == "committed" and result.rows_new == len(rows) and result.rows_read == len(rows)
    assert result.dates == ["2018-06-01", "2018-06-02", "2018-06-03"]
    expected = duckdb.execute("SELECT icp_id, read_timestamp, energy_flow_direction, interval_read::VARCHAR "
                              "FROM read_csv($p, all_varchar = false) ORDER BY ALL",
                              {"p": str(tmp_path / "r.csv")}).fetchall()
    assert [r[:4] for r in stored(lake)] == expected
    for f in lake.raw_files():
        table = pq.read_table(f.path)
        keys = list(zip(table["icp_id"].to_pylist(), table["read_timestamp"].to_pylist(),
                        table["energy_flow_direction"].to_pylist()))
        assert keys == sorted(keys)
        assert set(table["ingest_id"].to_pylist()) == {"ing-00000001"}


@pytest.mark.parametrize("block", [1 << 20, 256, 32])
def test_unquoted_padding_is_trimmed_on_the_fast_path(tmp_path, monkeypatch, no_general_path, block):
    """Spaces around unquoted values (not the timestamp's own) are found in the parsed
    values and trimmed; blocks smaller than a line are read again with a larger one."""
    rows = raw_rows(3, 1)
    plain = write_csv(tmp_path / "plain.csv", rows)
    padded = tmp_path / "padded.csv"
    lines = (tmp_path / "plain.csv").read_text().splitlines()
    padded.write_text("\n".join([lines[0]] + [f" {ln.replace(',', ' , ')} " if n % 7 == 0 else ln
                                              for n, ln in enumerate(lines[1:])]) + "\n")
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", block)
    a, b = Lake.create(tmp_path / "a"), Lake.create(tmp_path / "b")
    assert ingest_file(a, plain).rows_new == ingest_file(b, padded).rows_new == len(rows)
    assert stored(a) == stored(b)


def test_fast_path_matches_the_general_path(tmp_path, monkeypatch):
    rows = raw_rows(4, 2)
    random.Random(5).shuffle(rows)
    src = write_csv(tmp_path / "r.csv", rows)
    fast = Lake.create(tmp_path / "fast")
    ingest_file(fast, src)
    monkeypatch.setattr(typed_module, "FAST_PATH_MAX_ROWS", 0)  # too big for memory: DuckDB, spilling
    general = Lake.create(tmp_path / "general")
    ingest_file(general, src)
    assert stored(fast) == stored(general)
    for a, b in zip(fast.raw_files(), general.raw_files(), strict=True):
        assert pq.read_table(a.path).equals(pq.read_table(b.path))


@pytest.mark.parametrize(("block", "line", "field"), [(1 << 20, 700, "interval_read"), (4096, 1501, "read_timestamp")])
def test_bad_row_in_an_otherwise_clean_delivery_is_reported_and_nothing_changes(lake, tmp_path, monkeypatch,
                                                                                 block, line, field):
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", block)
    ingest_file(lake, write_csv(tmp_path / "first.csv", day_rows("ICP000", JUNE)))
    before = lake_files(lake)
    rows = raw_rows(8, 2)
    t, v, d, i = rows[line - 2]
    rows[line - 2] = (t, "abc", d, i) if field == "interval_read" else ("2018-06-01 25:00:00+12", v, d, i)
    with pytest.raises(ValidationError) as info:
        ingest_file(lake, write_csv(tmp_path / "bad.csv", rows))
    assert [(e.row, e.field) for e in info.value.errors] == [(line, field)]
    assert "nothing ingested" in str(info.value)
    assert lake_files(lake) == before and len(lake.ingests()) == 1


def test_revision_of_stored_dates_from_the_fast_path(lake, tmp_path):
    rows = raw_rows(2, 1)
    ingest_file(lake, write_csv(tmp_path / "a.csv", rows))
    changed = [(t, "9.999" if n % 10 == 0 else v, d, i) for n, (t, v, d, i) in enumerate(rows)]
    result = ingest_file(lake, write_csv(tmp_path / "b.csv", changed + raw_rows(3, 2)[len(rows) * 2:]))
    revised = sum(1 for n in range(len(rows)) if n % 10 == 0 and rows[n][1] != "9.999")
    assert result.status == "committed" and result.rows_revised == revised
    assert result.rows_unchanged == len(rows) - revised


def test_prefetched_stops_its_producer_and_passes_errors():
    def items():
        yield 1
        yield 2
        raise ValueError("boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]
    for item in prefetched(iter(range(1000))):
        if item == 3:
            break  # the producer thread must not block forever


def test_mapped_keeps_the_order_stays_bounded_and_passes_errors():
    started: list[int] = []

    def slow_square(n: int) -> int:
        started.append(n)
        time.sleep(0.002 * (n % 3))  # later items often finish first
        if n == 50:
            raise ValueError("item 50")
        return n * n

    got = []
    with pytest.raises(ValueError, match="item 50"):
        for n, value in zip(range(100), mapped(slow_square, range(100))):
            assert len(started) <= n + 3  # at most two ahead of this one, plus this one
            got.append(value)
    assert got == [n * n for n in range(50)]
    assert max(started) <= 52  # nothing past the lookahead was started


def _open_run(lake: Lake, days: int = 2) -> str:
    return runs.create_run(lake, start=JUNE, end=JUNE + dt.timedelta(days=days - 1), algorithm="m",
                           version="1")["run_id"]


def test_typed_parts_publish_the_same_rows_as_csv_parts(tmp_path):
    rows = out_factory.interval_rows(["A1", "B2", "C3"], out_factory.days(JUNE, 2))
    random.Random(1).shuffle(rows)  # unsorted within a part: publish sorts
    results = []
    for kind in ("csv", "parquet", "arrow"):
        lake = Lake.create(tmp_path / kind)
        run = _open_run(lake)
        for part, chunk in enumerate((rows[:100], rows[100:]), start=1):
            path = tmp_path / f"{kind}{part}"
            if kind == "csv":
                out_factory.write_csv(path, chunk)
            else:
                out_factory.write_table(path, chunk, kind)
            runs.upload_part(lake, run, part, path)
        record = runs.publish_run(lake, run)
        files = [str(lake.root / f["path"]) for f in record["files"]]
        tables = [pq.read_table(f) for f in files]
        for t in tables:
            keys = list(zip(t["icp_id"].to_pylist(), t["trading_period"].to_pylist(), t["buyer_seller"].to_pylist()))
            assert keys == sorted(keys) and len(set(keys)) == len(keys)
        # (the factory's typed files carry a publish time without the CSV's microseconds)
        results.append(([t.drop_columns(["publish_datetime"]).to_pylist() for t in tables], record["totals"],
                        record["rows"]))
    assert results[0] == results[1] == results[2]


def test_bad_value_in_a_typed_part_is_reported_with_row_and_field(lake, tmp_path):
    rows = out_factory.interval_rows(["A1", "B2"], out_factory.days(JUNE, 2))
    rows[57]["matched_amount"] = Decimal("-1.5")
    path = out_factory.write_table(tmp_path / "p.parquet", rows)
    run = _open_run(lake)
    with pytest.raises(ValidationError) as info:
        runs.upload_part(lake, run, 1, path)
    assert [(e.row, e.field, e.reason) for e in info.value.errors] == [(58, "matched_amount", "negative amount")]
    assert runs.get_run(lake, run)["parts"] == [] and not lake.layout.run_part_file(run, 1).exists()


def test_typed_part_with_nanosecond_instants_is_refused_as_before(lake, tmp_path):
    rows = out_factory.interval_rows(["A1"], out_factory.days(JUNE, 1))
    table = pq.read_table(out_factory.write_table(tmp_path / "p.parquet", rows))
    stamps = pa.array([dt.datetime(2018, 6, 27, 4, 39, 36, tzinfo=dt.UTC)] * len(rows), pa.timestamp("ns", tz="UTC"))
    stamps = pa.array([v.value + 7 for v in stamps], pa.timestamp("ns", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("publish_datetime"), "publish_datetime", stamps)
    pq.write_table(table, tmp_path / "ns.parquet")
    run = _open_run(lake, 1)
    with pytest.raises(ValidationError) as info:
        runs.upload_part(lake, run, 1, tmp_path / "ns.parquet")
    assert "unreadable parquet file" in info.value.errors[0].reason and "would lose data" in info.value.errors[0].reason
    assert runs.get_run(lake, run)["parts"] == []


def test_duplicates_across_typed_parts_name_the_first_occurrence(lake, tmp_path):
    rows = out_factory.interval_rows(["A1", "B2"], out_factory.days(JUNE, 2))
    run = _open_run(lake)
    runs.upload_part(lake, run, 1, out_factory.write_table(tmp_path / "1.parquet", rows))
    runs.upload_part(lake, run, 2, out_factory.write_table(tmp_path / "2.parquet", rows[10:12]))
    with pytest.raises(ValidationError) as info:
        runs.publish_run(lake, run)
    assert info.value.total == 2
    first = info.value.errors[0]
    assert first.source == "part 2" and first.row == 1 and "duplicate of part 1 row 11" in first.reason
    assert runs.get_run(lake, run)["status"] == "open" and not lake.layout.run_dir(run).exists()


def test_parts_staged_as_parquet_by_earlier_versions_still_publish(tmp_path):
    rows = out_factory.interval_rows(["A1", "B2"], out_factory.days(JUNE, 2))
    results = []
    for legacy in (False, True):
        lake = Lake.create(tmp_path / f"lake{legacy}")
        run = _open_run(lake)
        runs.upload_part(lake, run, 1, out_factory.write_table(tmp_path / "p.parquet", rows))
        if legacy:  # the part under its fixed Parquet name, and an entry that does not name it
            record_path = lake.layout.run_record(run)
            record = json.loads(record_path.read_text())
            staged = lake.root / record["parts"][0].pop("path")
            table = pa.ipc.open_file(pa.memory_map(str(staged))).read_all()
            pq.write_table(table, lake.layout.legacy_run_part_file(run, 1), row_group_size=100)
            staged.unlink()
            record_path.write_text(json.dumps(record))
        record = runs.publish_run(lake, run)
        results.append(([pq.read_table(lake.root / f["path"]).to_pylist() for f in record["files"]],
                         record["totals"]))
    assert results[0] == results[1]


def test_short_row_past_the_first_parallel_parse_block_is_reported_by_line(lake, tmp_path):
    rows = raw_rows(60, 14)  # ~3.9 MB; twice that passes the 4 MB parse blocks
    assert len(rows) > 80_000
    big = rows + [(t, v, d, i + "B") for t, v, d, i in rows]
    path = write_csv(tmp_path / "big.csv", big)
    assert path.stat().st_size > sources.CSV_PARSE_BYTES
    lines = path.read_text().splitlines()
    lines[len(lines) - 10] = ",".join(lines[len(lines) - 10].split(",")[:3])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError) as info:
        ingest_file(lake, path)
    assert [(e.row, e.reason) for e in info.value.errors] == [(len(lines) - 9, "expected 4 fields, found 3")]
    assert lake.ingests() == []
