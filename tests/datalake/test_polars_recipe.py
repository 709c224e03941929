"""The Polars recipe in docs/analysts.md, run as written on a lake with revisions and runs:
its totals equal the engine's (through the views, which tests/datalake/test_views.py and
test_output_views.py hold to the engine)."""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

import polars as pl
import pytest

from datalake.output import reads as output
from datalake import sql
from datalake import views
from tests.conftest import REPO
from tests.datalake.test_output_views import D, ICPS, publish
from tests.datalake.test_views import build_revised_lake

DOC = REPO / "docs" / "analysts.md"


def recipe(name: str) -> str:
    match = re.search(rf"<!-- tested: {name} -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"no block marked {name} in {DOC}"
    return match.group(1)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = build_revised_lake(tmp_path_factory.mktemp("polars") / "lake")
    # The runs answer for a few of the raw lake's ICPs: partial on purpose.
    publish(lake, D, 4, seed=1, allow_partial=True)
    publish(lake, D + dt.timedelta(days=1), 2, seed=2, icps=ICPS[:2], allow_partial=True)
    return lake


@pytest.fixture(scope="module")
def namespace(lake):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("METERLAKE_LAKE", str(lake.root))
        ns: dict = {}
        exec(recipe("polars-raw"), ns)
        exec(recipe("polars-output"), ns)
    return ns


def test_polars_raw_reads_equal_the_views(lake, namespace):
    con = sql.connect()
    views.define_views(con, lake)
    expected = con.sql("""SELECT read_date, energy_flow_direction, count(*), sum(interval_read)
                          FROM raw_reads GROUP BY ALL ORDER BY ALL""").fetchall()
    assert [tuple(r) for r in namespace["daily"].iter_rows()] == expected
    revisions = namespace["raw_all_revisions"].select("ingest_id").unique().collect().height
    assert revisions == 3  # the recipe really had revisions to choose between


def test_polars_output_latest_equals_the_engine(lake, namespace):
    engine, _ = output.output_by_key(lake, D, D + dt.timedelta(days=6))
    expected = [(r["icp_id"], r["buyer_seller"], r["matched_amount"], r["intervals"]) for r in engine.to_pylist()]
    assert [tuple(r) for r in namespace["by_icp"].iter_rows()] == expected
    per_run: dict[str, Decimal] = defaultdict(Decimal)
    totals = namespace["output_latest"].group_by("run_id").agg(a=pl.col("matched_amount").sum()).collect()
    for run, amount in totals.iter_rows():
        per_run[run] += amount
    assert set(per_run) == {"run-00000001", "run-00000002"}
