"""Response bodies of run review (checks, diff) and of data quality in the JSON API."""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from .structs import DateText, DecimalText


class RunCheck(msgspec.Struct):
    name: Annotated[str, Meta(description="missing_icps, missing_dates, duplicate_keys (structural); "
                                          "buyer_seller_balance, latest_change (numeric)")]
    kind: Literal["structural", "numeric"]
    passed: bool
    detail: str
    numbers: Annotated[dict[str, object], Meta(description="the figures behind the result: counts as integers, "
                                                           "amounts and ratios as decimal strings, samples as lists")]
    bound: Annotated[str | None, Meta(description="numeric checks: the bound that applied and where it was set "
                                                  "(run params or lake.json); null when none is set")] = None


class RunChecks(msgspec.Struct):
    run_id: str
    passed: Annotated[bool, Meta(description="every check passed")]
    checks: list[RunCheck]


class DiffSide(msgspec.Struct):
    buyer_seller: Literal["buyer", "seller"]
    run_total: DecimalText
    against_total: DecimalText
    difference: Annotated[DecimalText, Meta(description="run_total minus against_total")]
    added: Annotated[int, Meta(description="(icp_id, read_date) cells of this side only the run has")]
    removed: Annotated[int, Meta(description="cells only `against` has")]
    changed: Annotated[int, Meta(description="cells both have, with different totals")]
    unchanged: int


class DiffChange(msgspec.Struct):
    icp_id: str
    read_date: DateText
    buyer_seller: Literal["buyer", "seller"]
    change: Literal["added", "removed", "changed"]
    run_amount: Annotated[DecimalText | None, Meta(description="the day's total in the run; null if it has none")]
    against_amount: Annotated[DecimalText | None, Meta(description="the day's total in `against`")]
    difference: Annotated[DecimalText, Meta(description="run minus against (a missing total counts 0)")]


class RunDiff(msgspec.Struct):
    run_id: str
    against: str
    start: Annotated[DateText, Meta(description="first date both windows cover")]
    end: Annotated[DateText, Meta(description="last date both windows cover")]
    sides: list[DiffSide]
    changes: Annotated[list[DiffChange], Meta(description="the largest changes first, a page of at most `limit`")]
    next_cursor: str | None


class DiffDate(msgspec.Struct):
    read_date: DateText
    buyer_seller: Literal["buyer", "seller"]
    run_total: DecimalText
    against_total: DecimalText
    difference: Annotated[DecimalText, Meta(description="run_total minus against_total")]
    added: int
    removed: int
    changed: int
    unchanged: int


class RunDiffDates(msgspec.Struct):
    run_id: str
    against: str
    start: Annotated[DateText, Meta(description="first date both windows cover")]
    end: Annotated[DateText, Meta(description="last date both windows cover")]
    items: Annotated[list[DiffDate], Meta(description="one row a date and side, every date of start..end; "
                                                      "added up over the dates they are the diff's sides")]


class QualityDay(msgspec.Struct):
    read_date: DateText
    energy_flow_direction: Literal["I", "X"]
    expected_intervals: Annotated[int, Meta(description="trading periods of the date: 46, 48 or 50")]
    icps: Annotated[int, Meta(description="ICPs with a read in this direction on a date of the range")]
    icps_complete: Annotated[int, Meta(description="of them, those with every interval of the date")]
    icps_short: int
    present_intervals: int
    missing_intervals: Annotated[int, Meta(description="icps x expected_intervals - present_intervals")]
    revised_reads: Annotated[int, Meta(description="intervals delivered more than once (revised)")]
    latest_ingest: Annotated[str | None, Meta(description="the newest ingest with a read of the date")]


class QualityReport(msgspec.Struct):
    start: DateText
    end: DateText
    as_of: str | None
    items: list[QualityDay]


class IcpQualityDay(msgspec.Struct):
    read_date: DateText
    energy_flow_direction: Literal["I", "X"]
    expected_intervals: int
    present_intervals: int
    missing_intervals: int
    complete: bool
    revised_reads: int
    latest_ingest: str | None


class IcpQuality(msgspec.Struct):
    icp_id: str
    start: DateText
    end: DateText
    as_of: str | None
    items: list[IcpQualityDay]
