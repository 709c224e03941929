"""Output summaries of overlapping runs: every granularity, side and page is stable, and a
retraction moves "latest" back to the earlier run."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa

from datalake.lake import Lake


def test_output_summary_of_overlapping_runs_is_stable_and_follows_retraction(tmp_path):
    """Two overlapping runs, one retracted later: summaries (every granularity, side, page)
    from the run indexes equal those from the files."""
    from datalake.output import reads as output
    from datalake import runs
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
    for (icp, i), want in expected.items():
        got = all_pages(icp, **cases[i])
        assert got.num_rows > 0 and got.equals(want), (icp, cases[i])
    runs.retract_run(lake, second["run_id"])
    table, _ = output.output_summary(lake, "101", limit=None)
    assert {r for row in table["runs"].to_pylist() for r in row} == {first["run_id"]}
