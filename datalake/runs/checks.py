"""Every check on a published run, computed on demand: the structural ones of ``coverage``
and the numeric ones, each a pass or a fail with the numbers behind it. A numeric check fails
only against a bound, a fraction set as ``checks.<name>`` in the run's params, else in
``"checks": {...}`` of ``lake.json``:

- ``buyer_seller_balance``: |buyer - seller| / max(buyer, seller), bound ``max_buyer_seller_gap``;
- ``latest_change``: per side, |run - latest| / |latest| over the window's dates that another
  run answers "latest" for now (the run "latest" would name without this one; candidates
  answer nothing), the larger of the two sides, bound ``max_latest_change``.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from datalake.output import blocks as outputblocks
from datalake import schema
from datalake import sql
from datalake.runs.coverage import Check, coverage, structural
from datalake.errors import ConflictError
from datalake.lake import Lake
from datalake.runs.record import latest_runs, output_files, run_record

BOUNDS = {"buyer_seller_balance": "max_buyer_seller_gap", "latest_change": "max_latest_change"}
SCALE = Decimal(1).scaleb(-schema.AMOUNT_SCALE)
RATIO = Decimal("0.000001")


def run_checks(lake: Lake, run_id: str) -> list[Check]:
    """Every check of a published (or retracted) run, computed from its files now."""
    record = run_record(lake, run_id)
    by_date = output_files(lake, run_id)
    start, end = dt.date.fromisoformat(record["start"]), dt.date.fromisoformat(record["end"])
    files = [f for day in sorted(by_date) for f in by_date[day]]
    raw = [str(f.path) for f in lake.raw_files(start, end, record["raw_as_of"])] if record["raw_as_of"] else []
    con = sql.connect()
    try:
        icps = [str(lake.root / record["icp_index"])] if record.get("icp_index") and files else files
        cov = coverage(con, icps, [d.isoformat() for d in by_date], raw, record["raw_as_of"], start, end)
        # Publish writes one file a date, and its block file is written only if the file's
        # keys strictly increase: a date of one file has no repeated key. Others are counted.
        duplicates = sum(int(con.execute(sql.query("runs/duplicate_keys"), {"files": fs}).fetchone()[0])
                         for fs in by_date.values() if len(fs) > 1)
    finally:
        con.close()
    return [*structural(cov, duplicates), balance(lake, record), latest_change(lake, record)]


def bound(lake: Lake, record: dict, check: str) -> tuple[Decimal | None, str | None]:
    """The bound of a numeric check (None: unset) and where it was set; a bound that is not
    a non-negative number raises ``ConflictError``."""
    name = BOUNDS[check]
    for where, settings in (("params", (record.get("params") or {}).get("checks")),
                            ("lake.json", lake.info.get("checks"))):
        if isinstance(settings, dict) and settings.get(name) is not None:
            try:
                value = Decimal(str(settings[name]))
                if not value.is_finite() or value < 0:
                    raise InvalidOperation
            except InvalidOperation:
                raise ConflictError(f"checks.{name} in {where} must be a non-negative number, got "
                                    f"{settings[name]!r}", field=name, value=settings[name]) from None
            return value, f"{name}={value} ({where})"
    return None, None


def _judge(lake: Lake, record: dict, name: str, measure: Decimal | None, numbers: dict, detail: str) -> Check:
    limit, source = bound(lake, record, name)
    passed = limit is None or measure is None or measure <= limit
    return Check(name, "numeric", passed, detail + ("" if limit is None else f"; bound {source}"), numbers, source)


def balance(lake: Lake, record: dict) -> Check:
    totals = {side: Decimal(record["totals"].get(side, "0")) for side in schema.BUYER_SELLER}
    buyer, seller = totals["buyer"], totals["seller"]
    top = max(buyer, seller)
    gap = (abs(buyer - seller) / top).quantize(RATIO) if top else Decimal(0).quantize(RATIO)
    return _judge(lake, record, "buyer_seller_balance", gap,
                  {"buyer": str(buyer.quantize(SCALE)), "seller": str(seller.quantize(SCALE)),
                   "difference": str((buyer - seller).quantize(SCALE)), "gap": str(gap)},
                  f"buyer total {buyer.quantize(SCALE)} against seller total {seller.quantize(SCALE)}: gap {gap}")


def latest_change(lake: Lake, record: dict) -> Check:
    """This run's totals against those of the runs that answer "latest" for its dates
    without it (what a candidate would replace)."""
    start, end = record["start"], record["end"]
    others = [r for r in latest_runs(lake, start=start, end=end) if r["run_id"] != record["run_id"]]
    answering: dict[str, dict] = {}
    for other in others:
        lo, hi = max(start, other["start"]), min(end, other["end"])
        day = dt.date.fromisoformat(lo)
        while day.isoformat() <= hi:
            answering[day.isoformat()] = other
            day += dt.timedelta(days=1)
    mine = outputblocks.run_sources(lake, record)
    ours, theirs = [0, 0], [0, 0]
    for day, other in answering.items():
        for sources, sums in ((mine.get(day, []), ours), (outputblocks.run_sources(lake, other).get(day, []), theirs)):
            for s in sources:
                for code, (total, _) in enumerate(outputblocks.block_file(lake, s).facts["sides"]):
                    sums[code] += total
    numbers: dict = {"dates": len(answering), "against": sorted({r["run_id"] for r in answering.values()})}
    change = None
    for code, side in enumerate(schema.BUYER_SELLER):
        run, latest = Decimal(ours[code]) * SCALE, Decimal(theirs[code]) * SCALE
        relative = (abs(run - latest) / abs(latest)).quantize(RATIO) if latest else None
        numbers[side] = {"run": str(run), "latest": str(latest), "difference": str(run - latest),
                         "change": None if relative is None else str(relative)}
        if relative is not None:
            change = relative if change is None else max(change, relative)
        elif run:  # latest has nothing on that side and this run has: an unbounded change
            change = Decimal("Infinity")
    numbers["change"] = None if change is None else str(change)
    detail = (f"against {', '.join(numbers['against'])} over {len(answering)} date(s): change {numbers['change']}"
              if answering else "no other run answers latest for the window's dates")
    return _judge(lake, record, "latest_change", change, numbers, detail)
