"""as_of by time: an RFC 3339 instant resolves to the last ingest committed at or before it,
the same in the engine, the one-ICP and bulk reads and the analyst macro."""
from __future__ import annotations

import datetime as dt

import pytest

from datalake import sql
from datalake import views
from datalake.raw.asof import parse_instant, resolve_as_of
from datalake.raw.bulk import read_bulk
from datalake.errors import InvalidArgumentError, NotFoundError
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from tests.factories.raw import day_rows, write_csv

DAY = dt.date(2018, 6, 14)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("asof")
    lake = Lake.create(root / "lake")
    for seed in (1, 2, 3):
        ingest_file(lake, write_csv(root / f"d{seed}.csv", day_rows("ICP1", DAY, seed=seed)))
    return lake


def committed(lake: Lake) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(r["committed_at"]) for r in lake.ingests()]


def test_parse_instant_takes_z_offsets_and_a_space_for_plus() -> None:
    utc = dt.datetime(2018, 6, 19, 21, 0, tzinfo=dt.UTC)
    assert parse_instant("2018-06-20T09:00:00+12:00") == utc
    assert parse_instant("2018-06-20T09:00:00 12:00") == utc  # an unencoded '+' in a URL
    assert parse_instant("2018-06-19T21:00:00Z") == utc
    assert parse_instant("2018-06-19t21:00:00.5z") == utc + dt.timedelta(milliseconds=500)
    for bad in ("2018-06-20T09:00:00", "2018-06-20", "2018-02-30T00:00:00Z", "last tuesday"):
        with pytest.raises(InvalidArgumentError) as e:
            parse_instant(bad)
        assert e.value.field == "as_of"


def test_a_time_resolves_to_the_last_ingest_at_or_before_it(lake: Lake) -> None:
    t1, t2, t3 = committed(lake)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert resolve_as_of(lake, iso(t1)) == "ing-00000001"  # at: inclusive
    assert resolve_as_of(lake, iso(t1 + (t2 - t1) / 2)) == "ing-00000001"
    assert resolve_as_of(lake, iso(t2)) == "ing-00000002"
    assert resolve_as_of(lake, t3.astimezone(dt.timezone(dt.timedelta(hours=13))).isoformat()) == "ing-00000003"
    assert resolve_as_of(lake, "ing-00000002") == "ing-00000002"
    assert resolve_as_of(lake, None) is None


def test_before_the_first_ingest_is_not_found_and_the_future_is_invalid(lake: Lake) -> None:
    t1 = committed(lake)[0]
    with pytest.raises(NotFoundError, match="before the first ingest") as e:
        resolve_as_of(lake, (t1 - dt.timedelta(microseconds=1)).isoformat())
    assert e.value.field == "as_of"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    with pytest.raises(InvalidArgumentError, match="in the future"):
        resolve_as_of(lake, future)


def test_reads_and_bulk_by_time_equal_reads_by_the_resolved_id(lake: Lake) -> None:
    t1, t2, _ = committed(lake)
    when = (t2 + dt.timedelta(microseconds=1)).isoformat()
    by_time = read_icp(lake, "ICP1", DAY, DAY, as_of=when)
    assert by_time == read_icp(lake, "ICP1", DAY, DAY, as_of="ing-00000002")
    assert by_time != read_icp(lake, "ICP1", DAY, DAY)
    bulk = read_bulk(lake, DAY, DAY, as_of=t1.isoformat())
    assert bulk.as_of == "ing-00000001"
    assert bulk.reader().read_all()["interval_read"] == read_icp(lake, "ICP1", DAY, DAY,
                                                                 as_of="ing-00000001")["interval_read"]


def test_the_analyst_macro_resolves_times_by_the_same_rule(lake: Lake) -> None:
    con = sql.connect()
    views.define_views(con, lake)
    t1, t2, t3 = committed(lake)
    for instant in (t1, t1 + (t2 - t1) / 2, t2, t3):
        text = instant.isoformat()
        expected = resolve_as_of(lake, text)
        got = con.sql("SELECT as_of_ingest($t)", params={"t": text}).fetchall()[0][0]
        assert got == expected
        rows = con.sql("SELECT DISTINCT ingest_id FROM raw_reads_as_of($t)", params={"t": text}).fetchall()
        assert rows == [(expected,)]  # each delivery revised every read
    with pytest.raises(Exception, match="before the first ingest"):
        con.sql("SELECT count(*) FROM raw_reads_as_of($t)",
                params={"t": (t1 - dt.timedelta(seconds=1)).isoformat()}).fetchall()
    with pytest.raises(Exception, match="in the future"):
        con.sql("SELECT count(*) FROM raw_reads_as_of('2999-01-01T00:00:00Z')").fetchall()
