"""Response bodies of the JSON API (the contract other services code against)."""
from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

DecimalText = Annotated[str, Meta(description="decimal with its fixed scale, e.g. 1.343", examples=["1.343"])]
Instant = Annotated[str, Meta(description="ISO 8601 instant with offset", examples=["2018-06-14T00:30:00+12:00"])]
DateText = Annotated[str, Meta(description="trading date YYYY-MM-DD", examples=["2018-06-14"])]


class Read(msgspec.Struct):
    read_timestamp: Instant
    read_date: DateText
    trading_period: int
    interval_read: DecimalText
    energy_flow_direction: Literal["I", "X"]


class IcpReads(msgspec.Struct):
    icp_id: str
    start: DateText
    end: DateText
    as_of: str | None
    reads: list[Read]


class Ingest(msgspec.Struct):
    status: Literal["committed", "noop"]
    source: str
    ingest_id: str | None
    reason: str | None
    rows_read: int
    duplicates_collapsed: int
    rows_new: int
    rows_revised: int
    rows_unchanged: int
    rows_rejected: int
    dates: list[str]
    rejects_file: str | None
    seconds: float


class Health(msgspec.Struct):
    status: str


class Ready(msgspec.Struct):
    status: str
    format_version: int
    head_ingest: str | None
