"""The change feed: every read an ingest in (since, until] delivered, first or revised, with
its previous value; pages that cover each row once while new ingests commit; the same rows
after compaction and vacuum, and in the analyst view raw_changes."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from datalake import sql
from datalake import views
from datalake.raw.changes import read_changes
from datalake.maintenance.vacuum import vacuum
from datalake.raw.compaction import compact
from datalake.errors import InvalidArgumentError, NotFoundError
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from tests.factories.raw import day_rows, write_csv

D1, D2 = dt.date(2018, 6, 14), dt.date(2018, 6, 15)
COLUMNS = ["icp_id", "trading_period", "interval_read", "ingest_id", "previous_interval_read", "previous_ingest_id",
           "change"]


def build(root: Path) -> Lake:
    """ing-1: A and B on D1; ing-2: A's first 3 periods revised, C's first 2 new, A on D2 new;
    ing-3: A's first period of D1 revised again; ing-4: B's D1 delivered again unchanged (a no-op
    row-wise, so only its one changed row is stored)."""
    lake = Lake.create(root / "lake")
    ingest_file(lake, write_csv(root / "1.csv", day_rows("A", D1, seed=1) + day_rows("B", D1, seed=1)))
    ingest_file(lake, write_csv(root / "2.csv", day_rows("A", D1, seed=2)[:3] + day_rows("C", D1, seed=1)[:2]
                                + day_rows("A", D2, seed=1)))
    ingest_file(lake, write_csv(root / "3.csv", day_rows("A", D1, seed=3)[:1]))
    rows = day_rows("B", D1, seed=1)
    rows[7] = (rows[7][0], "9.999", "X", "B")
    ingest_file(lake, write_csv(root / "4.csv", rows))
    return lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build(tmp_path)


def value(rows: list[tuple[str, ...]], period: int) -> str:
    return rows[period - 1][1]


def test_rows_carry_the_value_before_and_the_kind_of_change(lake: Lake) -> None:
    table, cursor, span = read_changes(lake, "ing-00000001", "ing-00000003")
    assert (span.since, span.until, cursor) == ("ing-00000001", "ing-00000003", None)
    rows = [tuple(str(v) if v is not None else None for v in r.values()) for r in table.select(COLUMNS).to_pylist()]
    a1, a2, a3 = (day_rows("A", D1, seed=s) for s in (1, 2, 3))
    revised = [("A", str(p), value(a2, p), "ing-00000002", value(a1, p), "ing-00000001", "revised")
               for p in (1, 2, 3)]
    new_d2 = [r for r in rows if r[0] == "A" and r[3] == "ing-00000002" and r[6] == "new"]
    assert rows[:3] == revised and len(new_d2) == 48
    assert [r for r in rows if r[0] == "C"] == [("C", str(p), value(day_rows("C", D1, seed=1), p), "ing-00000002",
                                                 None, None, "new") for p in (1, 2)]
    assert rows[-1] == ("A", "1", value(a3, 1), "ing-00000003", value(a2, 1), "ing-00000002", "revised")
    assert len(rows) == 3 + 2 + 48 + 1
    # since is exclusive, until inclusive; the default until is the newest ingest.
    only_3, _, _ = read_changes(lake, "ing-00000002", "ing-00000003")
    assert only_3.num_rows == 1
    latest, _, span = read_changes(lake, "ing-00000003")
    assert span.until == "ing-00000004" and latest.select(COLUMNS).to_pylist()[0]["previous_interval_read"] is not None
    assert latest.num_rows == 1 and latest["icp_id"].to_pylist() == ["B"]
    everything, _, _ = read_changes(lake, "ing-00000000")
    assert everything.num_rows == 96 + 53 + 1 + 1


def test_pages_cover_every_row_once_and_the_cursor_pins_until(lake: Lake, tmp_path: Path) -> None:
    whole, _, _ = read_changes(lake, "ing-00000000")
    pages, cursor = [], None
    while True:
        page, cursor, span = read_changes(lake, "ing-00000000", limit=37, cursor=cursor)
        pages.extend(page.to_pylist())
        if len(pages) == 37:  # a new ingest between pages changes nothing of this walk
            ingest_file(lake, write_csv(tmp_path / "5.csv", day_rows("Z", D1, seed=9)))
        assert span.until == "ing-00000004"
        if cursor is None:
            break
    assert pages == whole.to_pylist()
    assert read_changes(lake, "ing-00000000")[2].until == "ing-00000005"
    with pytest.raises(InvalidArgumentError) as e:
        read_changes(lake, "ing-00000001", limit=37, cursor=read_changes(lake, "ing-00000000", limit=37)[1])
    assert e.value.field == "cursor"


def test_arguments_are_checked(lake: Lake) -> None:
    with pytest.raises(NotFoundError):
        read_changes(lake, "ing-00000042")
    with pytest.raises(InvalidArgumentError) as e:
        read_changes(lake, "ing-00000003", "ing-00000002")
    assert e.value.field == "until"
    when = lake.ingests()[1]["committed_at"]  # a time stands for the ingest committed at or before it
    assert read_changes(lake, when, "ing-00000003")[0].num_rows == 1


def test_the_feed_survives_compaction_and_vacuum_and_the_view_agrees(lake: Lake) -> None:
    before = {(s, u): read_changes(lake, s, u)[0] for s, u in
              [("ing-00000000", "ing-00000004"), ("ing-00000001", "ing-00000003"), ("ing-00000003", "ing-00000004")]}
    con = sql.connect()
    views.define_views(con, lake)
    for (since, until), table in before.items():
        rows = con.sql("SELECT * FROM raw_changes WHERE ingest_id > $s AND ingest_id <= $u "
                       "ORDER BY ingest_id, icp_id, read_timestamp, energy_flow_direction",
                       params={"s": since, "u": until}).to_arrow_table()
        assert rows.select(table.column_names).cast(table.schema) == table
    assert compact(lake, min_files=2)
    vacuum(lake, older_than=dt.timedelta(0), now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert len([f for f in lake.raw_files() if f.read_date == D1]) == 1
    for (since, until), table in before.items():
        assert read_changes(lake, since, until)[0] == table
