"""One ICP's summary computed in numpy (``output.summarize``, over rows as the block files
give them) equals an SQL statement over the same rows (the one the engine ran before it
read block files): every granularity, side, cursor and limit, across year ends, ISO week
53, dates before 1970 and several runs; and what SQL would refuse is refused."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from datalake.output import reads as output
from datalake.output import blocks as outputblocks
from datalake import schema
from datalake import sql
from datalake.output.groups import TotalOutOfRangeError

ROWS_SCHEMA = pa.schema([
    pa.field("read_date", pa.date32()),
    pa.field("trading_period", pa.int16()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL),
    pa.field("run_id", pa.string()),
])
CON = sql.connect()
PERIOD_SQL: dict[str, str] = {
    "interval": "strftime(read_date, '%Y-%m-%d') || '/' || lpad(CAST(trading_period AS VARCHAR), 2, '0')",
    "day": "strftime(read_date, '%Y-%m-%d')",
    "week": "strftime(read_date, '%G-W%V')",
    "month": "strftime(read_date, '%Y-%m')",
}
SUMMARY_SQL = """
WITH rows AS (
    SELECT {period} AS period, buyer_seller, matched_amount, run_id
    FROM icp_output
    WHERE $buyer_seller IS NULL OR buyer_seller = $buyer_seller
)
SELECT
    period,
    buyer_seller,
    CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount,
    count(*) AS intervals,
    list(DISTINCT run_id ORDER BY run_id) AS runs
FROM rows
WHERE $after_period IS NULL OR period > $after_period OR (period = $after_period AND buyer_seller > $after_side)
GROUP BY period, buyer_seller
ORDER BY period, buyer_seller
LIMIT $limit
"""


def rows_table(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(ROWS_SCHEMA.names, r)) for r in rows], schema=ROWS_SCHEMA)


def by_sql(rows: pa.Table, granularity: str, side: str | None, after: list | None, limit: int | None) -> pa.Table:
    text = SUMMARY_SQL.replace("{period}", PERIOD_SQL[granularity])
    params = {"buyer_seller": side, "limit": limit, "after_period": after[0] if after else None,
              "after_side": after[1] if after else None}
    CON.register("icp_output", rows)
    try:
        return CON.sql(text, params=params).to_arrow_table().cast(output.SUMMARY_SCHEMA)
    finally:
        CON.unregister("icp_output")


def block_rows(rows: pa.Table) -> outputblocks.Rows:
    """The same rows as ``outputblocks.icp_rows`` gives them."""
    runs = sorted(set(rows["run_id"].to_pylist()))
    return outputblocks.Rows(
        rows["read_date"].cast(pa.int32()).to_numpy().astype(np.int64), rows["trading_period"].to_numpy().astype(np.int64),
        np.array([schema.BUYER_SELLER.index(s) for s in rows["buyer_seller"].to_pylist()], np.int8),
        outputblocks.unscaled(rows["matched_amount"]), None,
        np.array([runs.index(r) for r in rows["run_id"].to_pylist()], np.int64), runs)


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
        for granularity in output.GRANULARITIES:
            full = by_sql(rows, granularity, None, None, None)
            keys = [[r["period"], r["buyer_seller"]] for r in full.to_pylist()]
            afters = [None, ["", ""], ["~", ""]] + rng.sample(keys, min(2, len(keys)))
            afters += [[k[0], "a"] for k in keys[:1]] + [[k[0][:7], "z"] for k in keys[:1]]
            for side in (None, "buyer", "seller"):
                for after in afters:
                    want = by_sql(rows, granularity, side, after, None)
                    for limit in (None, 1, 5):  # LIMIT keeps the first rows of the same order
                        got = output.summarize(block_rows(rows), granularity, side, after, limit)
                        expected = want if limit is None else want.slice(0, limit)
                        assert got is not None and got.equals(expected), (granularity, side, after, limit)
                        checked += 1
    assert checked > 1_000


def test_a_total_beyond_decimal_18_4_is_refused() -> None:
    """SQL's CAST to DECIMAL(18, 4) fails on such a total; so does the summary."""
    day = dt.date(2018, 6, 1)
    rows = rows_table([(day, p, "buyer", Decimal("99999999999999.9999"), "run-00000001") for p in range(1, 49)])
    with pytest.raises(TotalOutOfRangeError):
        output.summarize(block_rows(rows), "day", None, None, None)
    assert output.summarize(block_rows(rows), "interval", None, None, None).num_rows == 48
