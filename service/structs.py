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


class NewRun(msgspec.Struct, forbid_unknown_fields=True):
    """A run to open: its window of trading dates, the algorithm, and the raw snapshot it read."""

    start: DateText
    end: DateText
    algorithm: str
    version: str
    params: dict[str, object] | None = None
    raw_as_of: str | None = None


class PartInfo(msgspec.Struct):
    part: int
    rows: int
    dates: list[str]
    source_name: str | None
    format: str
    bytes: int
    sha256: str
    uploaded_at: str
    uploaded_by: str | None = None


class RunPart(PartInfo, kw_only=True):
    """An uploaded part, as the upload answers it: its entry in the run record, and the run."""

    run_id: str


class Run(msgspec.Struct):
    """A run record. ``totals`` are exact decimal strings per buyer_seller; the row and ICP
    figures are filled in at publish."""

    run_id: str
    status: Literal["open", "published", "retracted", "aborted"]
    start: DateText
    end: DateText
    algorithm: str
    version: str
    params: dict[str, object] | None
    raw_as_of: str | None
    created_at: str
    published_at: str | None
    rows: int
    totals: dict[str, DecimalText]
    rows_by_buyer_seller: dict[str, int] = {}
    created_by: str | None = None
    published_by: str | None = None
    publish_seq: Annotated[int | None, Meta(
        description="the lake's publish counter at this run's publish or promotion (1 + the highest so far); for "
                    "each date `latest` is the published run covering it with the highest publish_seq, candidates "
                    "left out; null until published, and for a candidate until promoted"
    )] = None
    stage: Annotated[Literal["candidate", "latest"] | None, Meta(
        description="candidate (readable by run id, never latest) or latest; null before publish")] = None
    promoted_at: str | None = None
    promoted_by: str | None = None
    promoted_forced: Annotated[bool | None, Meta(description="promoted with force=true, checks not required")] = None
    retracted_at: str | None = None
    retracted_by: str | None = None
    aborted_at: str | None = None
    aborted_by: str | None = None
    icps: Annotated[int | None, Meta(description="distinct ICPs in the output; null until published")] = None
    raw_icps: Annotated[int | None, Meta(
        description="distinct ICPs with raw reads in the window, in the raw snapshot the run read (raw_as_of)")] = None
    missing_icps: Annotated[int | None, Meta(
        description="how many of the raw_icps have no output (publish refuses such a run unless allow_partial)"
    )] = None
    missing_icps_sample: Annotated[list[str], Meta(description="the first 20 of them, in id order")] = []
    missing_dates: Annotated[list[str], Meta(description="dates of the window without output rows")] = []
    icps_without_raw: Annotated[int | None, Meta(
        description="output ICPs without raw reads in the window's raw snapshot (reported, never refused)")] = None
    icps_without_raw_sample: list[str] = []
    partial: Annotated[bool, Meta(
        description="published with allow_partial while missing_icps or missing_dates were not empty")] = False
    dates: list[str] = []
    parts: list[PartInfo] = []


class NewAlias(msgspec.Struct, forbid_unknown_fields=True):
    """Where an alias points: a published run (a candidate or one answering latest)."""

    run_id: Annotated[str, Meta(pattern=r"^run-[0-9]{8}$", examples=["run-00000003"])]


class AliasChange(msgspec.Struct):
    """One earlier state of an alias: the run it pointed at (null: deleted), who set it and when."""

    run_id: str | None
    set_at: str
    set_by: str | None


class Alias(msgspec.Struct):
    """An alias: the run it points at (null once deleted), who set that and when, and every
    earlier state, oldest first."""

    name: str
    run_id: str | None
    set_at: str
    set_by: str | None
    history: list[AliasChange]


class AliasList(msgspec.Struct):
    items: list[Alias]


class RunPage(msgspec.Struct):
    items: list[Run]
    next_cursor: str | None


class SummaryItem(msgspec.Struct):
    period: Annotated[str, Meta(description="YYYY-MM-DD/NN (interval), YYYY-MM-DD (day), YYYY-Www (week), YYYY-MM")]
    buyer_seller: Literal["buyer", "seller"]
    matched_amount: DecimalText
    intervals: int
    runs: list[str]


class Summary(msgspec.Struct):
    icp_id: str
    granularity: Literal["interval", "day", "week", "month"]
    items: list[SummaryItem]
    next_cursor: str | None


class KeyItem(msgspec.Struct, omit_defaults=True):
    """One key of the grouping (the fields named in ``by``) with its totals."""

    matched_amount: DecimalText
    intervals: int
    runs: list[str]
    icp_id: str | None = None
    read_date: DateText | None = None
    buyer_seller: Literal["buyer", "seller"] | None = None


class KeyPage(msgspec.Struct):
    items: list[KeyItem]
    next_cursor: str | None


class Change(msgspec.Struct):
    icp_id: str
    read_date: DateText
    trading_period: int
    read_timestamp: Instant
    energy_flow_direction: Literal["I", "X"]
    interval_read: DecimalText
    ingest_id: str
    previous_interval_read: DecimalText | None
    previous_ingest_id: str | None
    change: Literal["new", "revised"]


class ChangesPage(msgspec.Struct):
    since: str
    until: str | None
    changes: list[Change]
    next_cursor: str | None
