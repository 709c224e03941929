"""EIEP3 and EIEP13A ingest on files written to the record layouts: daylight-saving days,
estimated-then-actual replacement, a wrong header count, repeats and conflicts, the
multi-stream sum, and errors that name the line and the field with nothing committed."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datalake.errors import ValidationError
from datalake.raw import typed
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from datalake.delivery.sources import detect_format
from tests.factories.eiep import (eiep3_day, eiep3_det, eiep13a_day, eiep13a_det, local_starts, write_eiep3,
                                  write_eiep13a)

ICP = "XXXXXXXXXXXXXXX"  # the samples' anonymised ICP: no checksum is enforced
DST_START, DST_END, NORMAL = dt.date(2018, 9, 30), dt.date(2018, 4, 1), dt.date(2018, 6, 14)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake.create(tmp_path / "lake")


def attributes(lake: Lake, n: int = -1):
    return pq.read_table(lake.layout.absolute(lake.ingests()[n]["attributes"]["path"]))


def rejected(lake: Lake, path: Path, fmt: str | None = None) -> list:
    with pytest.raises(ValidationError) as e:
        ingest_file(lake, path, fmt=fmt)
    assert lake.ingests() == [] and not list(lake.layout.raw_dir.glob("*/*"))  # nothing committed
    return e.value.errors


@pytest.mark.parametrize(("day", "periods"), [(DST_START, 46), (DST_END, 50), (NORMAL, 48)])
def test_eiep3_trading_periods_follow_the_dst_rules(lake: Lake, tmp_path: Path, day: dt.date, periods: int) -> None:
    path = write_eiep3(tmp_path / "hh.txt", eiep3_day(ICP, day))
    assert detect_format(path) == "eiep3"
    result = ingest_file(lake, path)
    assert result.status == "committed" and result.rows_new == periods
    reads = read_icp(lake, ICP, day, day)
    assert reads["trading_period"].to_pylist() == list(range(1, periods + 1))
    stamps = reads["read_timestamp"].to_pylist()
    assert all(b - a == dt.timedelta(minutes=30) for a, b in zip(stamps, stamps[1:]))
    assert [f"{v:.3f}" for v in reads["interval_read"].to_pylist()] == [d.split(",")[6] for d in eiep3_day(ICP, day)]
    record = lake.ingests()[0]
    assert record["source"]["format"] == "eiep3" and record["source"]["file_identifier"] == "0001"
    attrs = attributes(lake)
    assert set(attrs["stream_id"].to_pylist()) == {"215504779"} and set(attrs["reading_type"].to_pylist()) == {"F"}
    assert set(attrs["file_status"].to_pylist()) == {"I"} and attrs.num_rows == periods


def test_eiep3_period_beyond_the_day_names_the_line_and_field(lake: Lake, tmp_path: Path) -> None:
    details = eiep3_day(ICP, DST_START) + [eiep3_det(ICP, DST_START, 47, "0.100")]
    errors = rejected(lake, write_eiep3(tmp_path / "hh.txt", details))
    assert [(e.row, e.field, e.value) for e in errors] == [(48, "trading period", "47")]
    assert "30/09/2018 has 46 trading periods" in errors[0].reason


def test_eiep3_field_shapes_are_checked(lake: Lake, tmp_path: Path) -> None:
    details = [eiep3_det(ICP, NORMAL, 1, "0.100"),
               eiep3_det(ICP, NORMAL, 2, "abc"),
               eiep3_det(ICP, NORMAL, 3, "0.100", direction="Q"),
               eiep3_det(ICP, NORMAL, 4, "0.1234"),
               eiep3_det("BAD-ICP", NORMAL, 5, "0.100"),
               eiep3_det(ICP, NORMAL, 6, "null"),
               "DET," + ICP + ",1,F,31/02/2018,7,0.100,,,X,",
               "DET,too,few"]
    errors = rejected(lake, write_eiep3(tmp_path / "hh.txt", details))
    assert [(e.row, e.field) for e in errors] == [
        (3, "active energy"), (4, "flow direction"), (5, "active energy"), (6, "ICP"), (7, "active energy"),
        (8, "trading date"), (9, None)]
    assert errors[-1].reason == "detail record: expected 11 fields, found 3"
    assert "is required" in errors[4].reason  # null means absent


def test_a_reading_too_large_for_a_raw_read_names_the_line_and_field(lake: Lake, tmp_path: Path) -> None:
    details = [eiep3_det(ICP, NORMAL, 1, "999999999999.999"), eiep3_det(ICP, NORMAL, 2, "1000000000000"),
               eiep3_det(ICP, NORMAL, 3, "99999999999999999999.5")]
    errors = rejected(lake, write_eiep3(tmp_path / "hh.txt", details))
    assert [(e.row, e.field) for e in errors] == [(3, "active energy"), (4, "active energy")]
    assert "below 1,000,000,000,000" in errors[0].reason


def test_the_general_ingest_path_gives_the_same_reads_from_an_eiep_file(tmp_path: Path, monkeypatch) -> None:
    """A delivery beyond the in-memory path's size goes through DuckDB: the EIEP reader's
    typed reads take that path too."""
    details = eiep3_day(ICP, NORMAL) + [eiep3_det("ICPB", NORMAL, 1, "0.5", stream="S1"),
                                        eiep3_det("ICPB", NORMAL, 1, "0.25", stream="S2")]
    path = write_eiep3(tmp_path / "hh.txt", details)
    fast = Lake.create(tmp_path / "fast")
    ingest_file(fast, path)
    monkeypatch.setattr(typed, "FAST_PATH_MAX_ROWS", 0)
    general = Lake.create(tmp_path / "general")
    result = ingest_file(general, path)
    assert result.status == "committed" and result.rows_new == 49
    for icp in (ICP, "ICPB"):
        assert read_icp(general, icp, NORMAL, NORMAL).equals(read_icp(fast, icp, NORMAL, NORMAL))
    assert [str(v) for v in read_icp(general, "ICPB", NORMAL, NORMAL)["interval_read"].to_pylist()] == ["0.750"]


def test_a_header_count_that_does_not_match_is_rejected(lake: Lake, tmp_path: Path) -> None:
    details = eiep3_day(ICP, NORMAL)
    path = tmp_path / "hh.txt"
    path.write_text(f"HDR,ICPHH,10.0,MEPX,,RETL,18/07/2018,15:29:07,0001,{len(details) + 1},201806,E,I\n"
                    + "\n".join(details) + "\n")
    errors = rejected(lake, path)
    assert [(e.row, e.field, e.value) for e in errors] == [(1, "number of detail records", "49")]
    assert "declares 49 detail records, the file has 48" in errors[0].reason
    path13 = write_eiep13a(tmp_path / "cons.txt", eiep13a_day(ICP, NORMAL))
    path13.write_text(path13.read_text().replace(",48,", ",47,", 1))
    assert [(e.row, e.field) for e in rejected(lake, path13)] == [(1, "number of detail records")]


def test_a_repeated_value_collapses_and_a_different_one_names_both_lines(lake: Lake, tmp_path: Path) -> None:
    same = [eiep3_det(ICP, NORMAL, 1, "0.228"), eiep3_det(ICP, NORMAL, 1, "0.228")]
    result = ingest_file(lake, write_eiep3(tmp_path / "same.txt", same))
    assert result.rows_new == 1 and lake.ingests()[0]["source"]["repeats_collapsed"] == 1
    other = Lake.create(tmp_path / "other")
    conflict = [eiep3_det(ICP, NORMAL, 1, "0.228"), eiep3_det(ICP, NORMAL, 2, "0.300"),
                eiep3_det(ICP, NORMAL, 1, "228.000")]  # as the public v11 sample sends them
    errors = rejected(other, write_eiep3(tmp_path / "v11.txt", conflict))
    assert [(e.row, e.field, e.value) for e in errors] == [(4, "active energy", "228.000")]
    assert "conflicts with line 2 (0.228 kWh)" in errors[0].reason


def test_several_streams_sum_into_the_raw_read_and_keep_their_detail(lake: Lake, tmp_path: Path) -> None:
    details = [eiep3_det(ICP, NORMAL, 1, "0.200", stream="A1"), eiep3_det(ICP, NORMAL, 1, "0.030", stream="B2"),
               eiep3_det(ICP, NORMAL, 2, "0.100", stream="A1"), eiep3_det(ICP, NORMAL, 1, "0.500", direction="I")]
    ingest_file(lake, write_eiep3(tmp_path / "hh.txt", details))
    reads = read_icp(lake, ICP, NORMAL, NORMAL)
    assert [(r["trading_period"], r["energy_flow_direction"], str(r["interval_read"])) for r in reads.to_pylist()] \
        == [(1, "I", "0.500"), (1, "X", "0.230"), (2, "X", "0.100")]
    attrs = attributes(lake).to_pylist()
    assert [(a["trading_period"], a["energy_flow_direction"], a["stream_id"], str(a["interval_read"]), a["line"])
            for a in attrs] == [(1, "I", "215504779", "0.500", 5), (1, "X", "A1", "0.200", 2),
                                (1, "X", "B2", "0.030", 3), (2, "X", "A1", "0.100", 4)]


@pytest.mark.parametrize(("day", "periods"), [(DST_START, 46), (DST_END, 50)])
def test_eiep13a_places_clock_times_and_infers_the_repeated_hour(lake: Lake, tmp_path: Path, day: dt.date,
                                                                 periods: int) -> None:
    path = write_eiep13a(tmp_path / "cons.txt", eiep13a_day(ICP, day))
    assert detect_format(path) == "eiep13a"
    assert ingest_file(lake, path).rows_new == periods
    reads = read_icp(lake, ICP, day, day)
    assert reads["trading_period"].to_pylist() == list(range(1, periods + 1))
    attrs = attributes(lake)
    inferred = [a["trading_period"] for a in attrs.to_pylist() if a["offset_inferred"]]
    assert inferred == ([5, 6, 7, 8] if day == DST_END else [])
    assert set(attrs["reading_type"].to_pylist()) == {"RD"} and set(attrs["register_content_code"].to_pylist()) == {"24"}


def test_eiep13a_29_59_ends_and_an_nzst_adjustment(lake: Lake, tmp_path: Path) -> None:
    summer = dt.date(2018, 12, 1)
    starts = [s - dt.timedelta(hours=1) for s in local_starts(summer)]  # NZST: an hour behind the clock
    assert starts[0] == dt.datetime(2018, 11, 30, 23, 0)
    details = [eiep13a_det(ICP, s, "0.500", adjustment="NZST", end_style="29") for s in starts]
    ingest_file(lake, write_eiep13a(tmp_path / "cons.txt", details))
    reads = read_icp(lake, ICP, summer, summer)
    assert reads["trading_period"].to_pylist() == list(range(1, 49))
    assert reads["read_timestamp"].to_pylist()[0] == dt.datetime(2018, 11, 30, 11, 30, tzinfo=dt.UTC)


def test_eiep13a_an_hour_it_cannot_place_names_the_line(lake: Lake, tmp_path: Path) -> None:
    details = [d for i, d in enumerate(eiep13a_day(ICP, DST_END)) if i != 6]  # one 02:00 record only
    errors = rejected(lake, write_eiep13a(tmp_path / "cons.txt", details))
    assert [(e.row, e.field, e.value) for e in errors] == [(6, "read period start", "01/04/2018 02:00:00")]
    assert "offset cannot be inferred" in errors[0].reason
    gap = [eiep13a_det(ICP, dt.datetime(2018, 9, 30, 2, 30), "0.100")]
    errors = rejected(lake, write_eiep13a(tmp_path / "gap.txt", gap))
    assert [(e.row, e.field) for e in errors] == [(2, "read period start")] and "does not exist" in errors[0].reason
    long = [eiep13a_det(ICP, dt.datetime(2018, 6, 14, 1, 0), "0.100").replace("01:30:00", "02:00:00")]
    assert [(e.row, e.field) for e in rejected(lake, write_eiep13a(tmp_path / "long.txt", long))] == [
        (2, "read period end")]


def test_estimated_then_actual_replaces_the_reads(lake: Lake, tmp_path: Path) -> None:
    estimated = eiep13a_day(ICP, NORMAL, seed=1, status="ES")
    actual = eiep13a_day(ICP, NORMAL, seed=2, status="RD")[:10]  # a replacement of the first 10 periods
    first = ingest_file(lake, write_eiep13a(tmp_path / "es.txt", estimated, identifier="CONS0001"))
    second = ingest_file(lake, write_eiep13a(tmp_path / "rd.txt", actual, identifier="CONS0002"))
    assert first.rows_new == 48 and second.rows_revised == sum(
        a.split(",")[12] != e.split(",")[12] for a, e in zip(actual, estimated))
    reads = read_icp(lake, ICP, NORMAL, NORMAL)
    assert [f"{v:.3f}" for v in reads["interval_read"].to_pylist()[:10]] == [a.split(",")[12] for a in actual]
    assert [f"{v:.3f}" for v in read_icp(lake, ICP, NORMAL, NORMAL, as_of=first.ingest_id)["interval_read"]
            .to_pylist()] == [e.split(",")[12] for e in estimated]
    latest = attributes(lake, -1)
    assert set(latest["reading_type"].to_pylist()) == {"RD"} and set(latest["file_identifier"].to_pylist()) == {
        "CONS0002"}
    assert set(attributes(lake, 0)["reading_type"].to_pylist()) == {"ES"}


def test_an_eiep3_replacement_file_revises_the_earlier_reads(lake: Lake, tmp_path: Path) -> None:
    ingest_file(lake, write_eiep3(tmp_path / "i.txt", eiep3_day(ICP, NORMAL, seed=1)))
    again = write_eiep3(tmp_path / "r.txt", eiep3_day(ICP, NORMAL, seed=2), identifier="0002", status="R")
    result = ingest_file(lake, again, fmt="eiep3")
    assert result.rows_revised > 40 and lake.ingests()[-1]["source"]["file_status"] == "R"
    assert [f"{v:.3f}" for v in read_icp(lake, ICP, NORMAL, NORMAL)["interval_read"].to_pylist()] == [
        d.split(",")[6] for d in eiep3_day(ICP, NORMAL, seed=2)]


def test_a_file_of_the_other_format_is_refused_by_its_header(lake: Lake, tmp_path: Path) -> None:
    path = write_eiep13a(tmp_path / "cons.txt", eiep13a_day(ICP, NORMAL))
    errors = rejected(lake, path, fmt="eiep3")
    assert [(e.row, e.field) for e in errors] == [(1, "record type")]


def test_the_analyst_view_shows_each_stream_and_joins_the_raw_reads(lake: Lake, tmp_path: Path) -> None:
    from datalake import sql
    from datalake import views

    con = sql.connect()
    views.define_views(con, lake)
    assert con.sql("SELECT count(*) FROM raw_read_attributes").fetchall() == [(0,)]  # no EIEP delivery yet
    details = [eiep3_det(ICP, NORMAL, 1, "0.200", stream="A1"), eiep3_det(ICP, NORMAL, 1, "0.030", stream="B2")]
    ingest_file(lake, write_eiep3(tmp_path / "hh.txt", details))
    views.define_views(con, lake)
    rows = con.sql("""
        SELECT a.stream_id, a.interval_read, r.interval_read, a.file_type, a.line
        FROM raw_reads r JOIN raw_read_attributes a USING (icp_id, read_timestamp, energy_flow_direction, ingest_id)
        ORDER BY a.stream_id""").fetchall()
    assert [(s, str(a), str(r), t, n) for s, a, r, t, n in rows] == [
        ("A1", "0.200", "0.230", "eiep3", 2), ("B2", "0.030", "0.230", "eiep3", 3)]
    assert con.sql("SELECT rows_read, source_format FROM ingests").fetchall() == [(1, "eiep3")]
    from datalake.maintenance.check import check_lake

    assert check_lake(lake).ok
    stray = lake.layout.attributes_dir / "ing-00000009-0123456789ab.parquet"  # as a killed writer leaves it
    stray.write_bytes(b"PAR1")
    os.utime(stray, (1, 1))
    report = check_lake(lake, repair=True)
    assert report.ok and report.leftovers == ["attributes/ing-00000009-0123456789ab.parquet"] and not stray.exists()
    path = lake.layout.absolute(lake.ingests()[0]["attributes"]["path"])
    path.write_bytes(path.read_bytes()[:-10])
    report = check_lake(lake)
    assert not report.ok and any(p.startswith("attributes/ing-00000001") for p in report.problems), report.problems


def test_the_columnar_eiep3_reader_agrees_with_the_line_reader_or_declines(tmp_path: Path) -> None:
    from datalake.delivery.eiep3 import read_eiep3
    from datalake.delivery.eiep3fast import read_eiep3_fast

    clean = eiep3_day(ICP, DST_END) + eiep3_day("ICP2", DST_START, stream="") + [
        eiep3_det("ICP2", NORMAL, 1, "0.200", stream="A1"), eiep3_det("ICP2", NORMAL, 1, "0.030", stream="B2"),
        eiep3_det("ICP2", NORMAL, 1, "0.500", direction="I", reactive="1.25")]
    path = write_eiep3(tmp_path / "clean.txt", clean, status="R")
    fast, slow = read_eiep3_fast(path, "clean.txt"), read_eiep3(path, "clean.txt")
    assert fast is not None
    assert fast.table == slow.table and fast.attributes == slow.attributes
    for name, details in [("repeat", [eiep3_det(ICP, NORMAL, 1, "0.2")] * 2),
                          ("period", [eiep3_det(ICP, DST_START, 47, "0.2")]),
                          ("decimals", [eiep3_det(ICP, NORMAL, 1, "0.2345")]),
                          ("null", [eiep3_det(ICP, NORMAL, 1, "null")]),
                          ("padded", [eiep3_det(ICP, NORMAL, 1, " 0.2")])]:
        assert read_eiep3_fast(write_eiep3(tmp_path / f"{name}.txt", details), name) is None, name
