"""Property: paging through an output query returns every aggregated row exactly once, in
order, and the same rows as one unpaged query at the first page, even when a new run
publishes over the same dates between pages (the cursor pins the runs)."""
from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from datalake.output import reads as output
from datalake.lake import Lake
from tests.factories.output import days, interval_rows, publish_rows

D = dt.date(2018, 6, 1)
ICPS = ["0000012345TR9A1", "0000067890UN2B2", "101"]
WINDOW_DAYS = 6
MAX_PAGES = 6
_seeds = itertools.count(100)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path]:
    folder = tmp_path_factory.mktemp("paging")
    lake = Lake.create(folder / "lake")
    publish_rows(lake, folder, interval_rows(ICPS, days(D, WINDOW_DAYS), seed=1), D,
                 D + dt.timedelta(days=WINDOW_DAYS - 1))
    publish_rows(lake, folder, interval_rows(ICPS[:2], days(D + dt.timedelta(days=2), 2), seed=2),
                 D + dt.timedelta(days=2), D + dt.timedelta(days=3))
    return lake, folder


def publish_another(lake: Lake, folder: Path, first: int, length: int) -> str:
    """A new run with new amounts over some of the same dates."""
    start = D + dt.timedelta(days=first)
    record = publish_rows(lake, folder, interval_rows(ICPS, days(start, length), seed=next(_seeds)), start,
                          start + dt.timedelta(days=length - 1))
    return record["run_id"]


def page_through(fetch, limit: int, total: int, on_page) -> list[dict]:
    limit = max(limit, -(-total // MAX_PAGES))  # the property needs a few pages, not hundreds
    rows, cursor, pages = [], None, 0
    while True:
        table, cursor = fetch(limit=limit, cursor=cursor)
        assert table.num_rows <= limit
        assert cursor is None or table.num_rows == limit
        rows += table.to_pylist()
        on_page(pages)
        pages += 1
        if cursor is None:
            return rows


interference = st.one_of(st.none(), st.tuples(st.integers(0, MAX_PAGES - 1), st.integers(0, WINDOW_DAYS - 1),
                                              st.integers(1, 3)))
common = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(icp=st.sampled_from(ICPS), granularity=st.sampled_from(["interval", "day", "week", "month"]),
       side=st.sampled_from([None, "buyer", "seller"]), limit=st.integers(1, 40),
       span=st.one_of(st.none(), st.tuples(st.integers(0, WINDOW_DAYS - 1), st.integers(0, WINDOW_DAYS - 1))),
       publish=interference)
@example(icp=ICPS[0], granularity="day", side=None, limit=3, span=None, publish=(0, 0, 3))
def test_summary_pages_cover_every_row_once(world, icp, granularity, side, limit, span, publish) -> None:
    lake, folder = world
    start = end = None
    if span:
        start, end = (D + dt.timedelta(days=d) for d in sorted(span))

    def fetch(**page):
        return output.output_summary(lake, icp, start=start, end=end, buyer_seller=side, granularity=granularity,
                                     **page)

    expected, _ = fetch(limit=None)
    published = []

    def on_page(n: int) -> None:
        if publish and n == publish[0]:
            published.append(publish_another(lake, folder, publish[1], min(publish[2], WINDOW_DAYS - publish[1])))

    rows = page_through(fetch, limit, expected.num_rows, on_page)
    assert rows == expected.to_pylist()
    keys = [(r["period"], r["buyer_seller"]) for r in rows]
    assert keys == sorted(set(keys))
    if published:
        assert published[0] not in {run for r in rows for run in r["runs"]}
        fresh, _ = fetch(limit=None)
        if start is None and fresh.num_rows:  # the new run is what a new query reads now
            assert published[0] in {run for r in fresh.to_pylist() for run in r["runs"]}


@common
@given(by=st.permutations(["icp_id", "read_date", "buyer_seller"]).flatmap(
           lambda p: st.integers(1, 3).map(lambda n: p[:n])),
       side=st.sampled_from([None, "buyer", "seller"]), limit=st.integers(1, 25), publish=interference)
@example(by=["icp_id", "buyer_seller"], side=None, limit=2, publish=(1, 0, 6))
def test_by_key_pages_cover_every_row_once(world, by, side, limit, publish) -> None:
    lake, folder = world
    end = D + dt.timedelta(days=WINDOW_DAYS - 1)


    def fetch(**page):
        return output.output_by_key(lake, D, end, by=by, buyer_seller=side, **page)

    expected, _ = fetch(limit=None)

    def on_page(n: int) -> None:
        if publish and n == publish[0]:
            publish_another(lake, folder, publish[1], min(publish[2], WINDOW_DAYS - publish[1]))

    rows = page_through(fetch, limit, expected.num_rows, on_page)
    assert rows == expected.to_pylist()
    keys = [tuple(r[k] for k in by) for r in rows]
    assert keys == sorted(set(keys))
