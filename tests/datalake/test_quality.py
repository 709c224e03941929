"""The completeness report over real raw deliveries: short ICPs, revisions, snapshots,
compacted dates and daylight-saving days, checked against plain DuckDB over the raw files."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from datalake.raw.compaction import compact
from datalake.errors import InvalidArgumentError, NotFoundError
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.quality import icp_quality, reads_quality
from tests.factories.raw import day_rows, write_csv
from tests.service.conftest import lake_icps

JUNE = dt.date(2018, 6, 1)
JUNE2 = JUNE + dt.timedelta(days=1)


@pytest.fixture
def delivered(lake: Lake, tmp_path: Path) -> Lake:
    """4 generated ICPs x 2 days (ing-00000001); SHORT1 with 40 of June 1's 48 reads (-02);
    5 reads of the first ICP's June 2 revised (-03)."""
    generate(lake, icps=4, days=2, start=JUNE, seed=6)
    ingest_file(lake, write_csv(tmp_path / "short.csv", day_rows("SHORT1", JUNE)[:40]))
    first = lake_icps(lake)[0]
    ingest_file(lake, write_csv(tmp_path / "rev.csv", day_rows(first, JUNE2, seed=77)[:5]))
    return lake


def plain(lake: Lake, as_of: str = "ing-99999999") -> dict:
    """(date, direction) -> (present intervals, revised reads), by DuckDB over the raw files."""
    files = [str(f.path) for f in lake.raw_files()]
    rows = duckdb.execute("""
        SELECT read_date, energy_flow_direction, count(*), count(*) FILTER (WHERE n > 1) FROM (
            SELECT read_date, energy_flow_direction, icp_id, read_timestamp, count(*) AS n
            FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
            WHERE ingest_id <= $as_of GROUP BY ALL)
        GROUP BY ALL""", {"files": files, "as_of": as_of}).fetchall()
    return {(d, e): (n, r) for d, e, n, r in rows}


def by_key(table) -> dict:
    return {(r["read_date"], r["energy_flow_direction"]): r for r in table.to_pylist()}


def test_the_report_counts_short_icps_missing_intervals_and_revisions(delivered: Lake) -> None:
    report = by_key(reads_quality(delivered, JUNE, JUNE + dt.timedelta(days=2)))
    x1, x2, x3 = (report[(JUNE + dt.timedelta(days=i), "X")] for i in range(3))
    assert (x1["icps"], x1["icps_complete"], x1["icps_short"]) == (5, 4, 1)
    assert (x1["expected_intervals"], x1["present_intervals"], x1["missing_intervals"]) == (48, 4 * 48 + 40, 8)
    assert (x1["revised_reads"], x1["latest_ingest"]) == (0, "ing-00000002")
    assert (x2["icps_short"], x2["missing_intervals"], x2["revised_reads"], x2["latest_ingest"]) == \
        (1, 48, 5, "ing-00000003")
    assert (x3["icps_complete"], x3["present_intervals"], x3["latest_ingest"]) == (0, 0, None)
    truth = plain(delivered)
    for (day, direction), (present, revised) in truth.items():
        row = report[(day, direction)]
        assert (row["present_intervals"], row["revised_reads"]) == (present, revised)
        assert row["missing_intervals"] == row["icps"] * row["expected_intervals"] - present

    before = by_key(reads_quality(delivered, JUNE, JUNE2, as_of="ing-00000002"))
    assert (before[(JUNE2, "X")]["revised_reads"], before[(JUNE2, "X")]["latest_ingest"]) == (0, "ing-00000001")
    first = by_key(reads_quality(delivered, JUNE, JUNE2, as_of="ing-00000001"))
    assert first[(JUNE, "X")]["icps"] == 4 and first[(JUNE, "X")]["icps_short"] == 0


def test_a_compacted_date_answers_the_same(delivered: Lake) -> None:
    before = reads_quality(delivered, JUNE, JUNE2)
    before_revision = reads_quality(delivered, JUNE, JUNE2, as_of="ing-00000002")
    compact(delivered, [JUNE2], min_files=2, actor="test")
    assert [f.unique_keys for f in delivered.raw_files(JUNE2, JUNE2)] == [False]
    assert reads_quality(delivered, JUNE, JUNE2) == before
    assert reads_quality(delivered, JUNE, JUNE2, as_of="ing-00000002") == before_revision


def test_one_icp_per_date_and_direction(delivered: Lake) -> None:
    short = icp_quality(delivered, "SHORT1", JUNE, JUNE2).to_pylist()
    assert [(r["read_date"], r["energy_flow_direction"], r["present_intervals"], r["missing_intervals"],
             r["complete"]) for r in short] == [(JUNE, "X", 40, 8, False), (JUNE2, "X", 0, 48, False)]
    first = icp_quality(delivered, lake_icps(delivered)[0], JUNE2, JUNE2).to_pylist()
    x = next(r for r in first if r["energy_flow_direction"] == "X")
    assert (x["complete"], x["revised_reads"], x["latest_ingest"]) == (True, 5, "ing-00000003")
    assert icp_quality(delivered, "NOSUCH1", JUNE, JUNE2).num_rows == 0


def test_daylight_saving_days_expect_46_and_50_intervals(lake: Lake, tmp_path: Path) -> None:
    spring, autumn = dt.date(2018, 9, 30), dt.date(2018, 4, 1)
    ingest_file(lake, write_csv(tmp_path / "dst.csv", day_rows("DST1", spring)[:44] + day_rows("DST1", autumn)))
    report = by_key(reads_quality(lake, autumn, spring))
    assert (report[(spring, "X")]["expected_intervals"], report[(spring, "X")]["missing_intervals"]) == (46, 2)
    assert (report[(autumn, "X")]["expected_intervals"], report[(autumn, "X")]["icps_complete"]) == (50, 1)
    assert report[(dt.date(2018, 6, 1), "X")]["missing_intervals"] == 48
    assert len(report) == (spring - autumn).days + 1  # X only: DST1 never injects


def test_bad_ranges_and_snapshots_are_refused(delivered: Lake) -> None:
    with pytest.raises(InvalidArgumentError, match="at most 366 dates") as wide:
        reads_quality(delivered, JUNE, JUNE + dt.timedelta(days=366))
    assert wide.value.field == "end"
    with pytest.raises(InvalidArgumentError, match="before start"):
        reads_quality(delivered, JUNE2, JUNE)
    with pytest.raises(NotFoundError):
        reads_quality(delivered, JUNE, JUNE2, as_of="ing-00000042")
    with pytest.raises(InvalidArgumentError):
        icp_quality(delivered, "not an icp", JUNE, JUNE2)
