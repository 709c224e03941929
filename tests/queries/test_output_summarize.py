"""One ICP's summary computed in numpy (``output.summarize``) equals
``queries/output_summary_for_icp.sql`` on the same rows: every granularity, side, cursor
and limit, across year ends, ISO week 53, dates before 1970 and several runs; and it
declines (None, so the SQL answers) where only the SQL is exact."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pyarrow as pa
import pytest

from datalake import output, schema, sql

ROWS_SCHEMA = pa.schema([
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL),
    pa.field("run_id", pa.string()),
])
CON = sql.connect()


def rows_table(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(ROWS_SCHEMA.names, r)) for r in rows], schema=ROWS_SCHEMA)


def by_sql(rows: pa.Table, granularity: str, side: str | None, after: list | None, limit: int | None) -> pa.Table:
    text = sql.query("output_summary_for_icp").replace("{period}", output.PERIOD_SQL[granularity])
    params = {"buyer_seller": side, "limit": limit, "after_period": after[0] if after else None,
              "after_side": after[1] if after else None}
    CON.register("icp_output", rows)
    try:
        return CON.sql(text, params=params).to_arrow_table().cast(output.SUMMARY_SCHEMA)
    finally:
        CON.unregister("icp_output")


def random_rows(rng: random.Random, n: int) -> pa.Table:
    starts = [dt.date(2020, 12, 20), dt.date(2015, 12, 25), dt.date(1969, 12, 25), dt.date(1, 1, 1),
              dt.date(9999, 12, 20), dt.date(2018, 6, 1)]
    start = rng.choice(starts)
    span = min(40, (dt.date(9999, 12, 31) - start).days + 1)
    runs = [f"run-{i:08d}" for i in rng.sample(range(1, 20), rng.randint(1, 3))]
    keys = set()
    while len(keys) < n:
        keys.add((start + dt.timedelta(days=rng.randrange(span)), rng.randint(1, 50),
                  rng.choice(["buyer", "seller"]), rng.choice(runs)))
    return rows_table([(d, p, s, Decimal(rng.randint(0, 10**8)) / 10000, r) for d, p, s, r in sorted(keys)])


def test_summarize_equals_the_sql_on_random_rows() -> None:
    rng = random.Random(11)
    checked = 0
    for _ in range(12):
        rows = random_rows(rng, rng.choice([0, 1, 7, 300]))
        if rng.random() < 0.5:  # rows of several runs come as several chunks
            rows = pa.concat_tables([rows.slice(0, rows.num_rows // 2), rows.slice(rows.num_rows // 2)])
        for granularity in output.PERIOD_SQL:
            full = by_sql(rows, granularity, None, None, None)
            keys = [[r["period"], r["buyer_seller"]] for r in full.to_pylist()]
            afters = [None, ["", ""], ["~", ""]] + rng.sample(keys, min(2, len(keys)))
            afters += [[k[0], "a"] for k in keys[:1]] + [[k[0][:7], "z"] for k in keys[:1]]
            for side in (None, "buyer", "seller"):
                for after in afters:
                    want = by_sql(rows, granularity, side, after, None)
                    for limit in (None, 1, 5):  # LIMIT keeps the first rows of the same order
                        got = output.summarize(rows, granularity, side, after, limit)
                        expected = want if limit is None else want.slice(0, limit)
                        assert got is not None and got.equals(expected), (granularity, side, after, limit)
                        checked += 1
    assert checked > 1_000


@pytest.mark.parametrize("case", ["period_over_99", "huge_sum", "int_cursor", "null_amount"])
def test_summarize_leaves_what_only_sql_answers_exactly_to_sql(case: str) -> None:
    day = dt.date(2018, 6, 1)
    amount = Decimal("99999999999999.9999") if case == "huge_sum" else Decimal("1.5")
    rows = [(day, 100 if case == "period_over_99" else p, "buyer", amount, "run-00000001") for p in range(1, 49)]
    if case == "null_amount":
        rows[0] = (day, 1, "buyer", None, "run-00000001")
    after = ["2018-06-01", 5] if case == "int_cursor" else None
    assert output.summarize(rows_table(rows), "interval" if case == "period_over_99" else "day", None, after,
                            None) is None
