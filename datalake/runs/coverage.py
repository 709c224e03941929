"""How a run's output covers its window and raw snapshot, and the structural checks on it,
which publish enforces unless a partial run is allowed (``runchecks`` adds the numeric ones).

Structural checks (fail by default):

- ``missing_icps``: ICPs with raw reads in the run's window, in the raw snapshot it read
  (ingests up to ``raw_as_of``), that have no output;
- ``missing_dates``: dates of the window without output rows;
- ``duplicate_keys``: rows repeating an (icp_id, read_date, trading_period, buyer_seller) key.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import duckdb

from datalake import sql
from datalake.errors import MeterlakeError

SAMPLE = 20


@dataclass(frozen=True)
class Coverage:
    """How a run's output covers its window and the raw snapshot it read."""

    icps: int
    raw_icps: int
    missing_icps: int
    missing_icps_sample: list[str]
    icps_without_raw: int
    icps_without_raw_sample: list[str]
    missing_dates: list[str]

    @property
    def partial(self) -> bool:
        """Whether dates of the window or raw ICPs of the window have no output."""
        return bool(self.missing_dates) or self.missing_icps > 0

    def stats(self) -> dict:
        """The fields of the run record."""
        return asdict(self)


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # structural or numeric
    passed: bool
    detail: str
    numbers: dict = field(default_factory=dict)
    bound: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class PartialRunError(MeterlakeError):
    """Publishing would leave dates of the run's window without rows, or ICPs with raw reads
    in the window without output, and a partial run was not allowed."""

    code = "partial_run"

    def __init__(self, run_id: str, coverage: Coverage) -> None:
        self.coverage = coverage
        parts = []
        if coverage.missing_dates:
            more = len(coverage.missing_dates) - SAMPLE
            parts.append(f"{len(coverage.missing_dates)} date(s) of the window without rows: "
                         + ", ".join(coverage.missing_dates[:SAMPLE]) + (f" and {more} more" if more > 0 else ""))
        if coverage.missing_icps:
            more = coverage.missing_icps - len(coverage.missing_icps_sample)
            parts.append(f"{coverage.missing_icps:,} ICP(s) with raw reads in the window without output: "
                         + ", ".join(coverage.missing_icps_sample) + (f" and {more:,} more" if more > 0 else ""))
        super().__init__(f"run {run_id} not published: " + "; ".join(parts)
                         + ". Publish it with allow_partial (HTTP allow_partial=true, CLI --allow-partial) "
                         "if a partial run is intended", field="run_id", value=run_id)


def coverage(con: duckdb.DuckDBPyConnection, files: list[str], dates: Iterable[str], raw_files: list[str],
             as_of: str | None, start: dt.date, end: dt.date) -> Coverage:
    """The coverage of the output whose ICPs are in ``files`` (its Parquet files, or its ICP
    index) and whose dates with rows are ``dates``, against the raw files of the window read
    as of ingest ``as_of``."""
    have = set(dates)
    window = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    missing_dates = [d for d in window if d not in have]
    raw = bool(raw_files) and as_of is not None
    if files and raw:
        found = con.execute(sql.query("runs/coverage"), {"files": files, "raw_files": raw_files, "as_of": as_of,
                                                        "sample": SAMPLE}).fetchall()[0]
    elif files:  # no raw reads in the window: no raw ICP lacks output
        found = con.execute(sql.query("runs/coverage_no_raw"), {"files": files, "sample": SAMPLE}).fetchall()[0]
    elif raw:  # no output at all: every raw ICP lacks it
        count, first = con.execute(sql.query("raw/icps_sample"), {"raw_files": raw_files, "as_of": as_of,
                                                                 "sample": SAMPLE}).fetchall()[0]
        found = (0, count, count, first, 0, [])
    else:
        found = (0, 0, 0, [], 0, [])
    icps, raw_icps, missing, sample, without_raw, without_sample = found
    return Coverage(icps, raw_icps, missing, list(sample), without_raw, list(without_sample), missing_dates)


def structural(cov: Coverage, duplicates: int) -> list[Check]:
    """The structural checks of a run with coverage ``cov`` and ``duplicates`` repeated keys."""
    return [
        Check("missing_icps", "structural", cov.missing_icps == 0,  # the same facts as Coverage.partial
              f"{cov.missing_icps:,} of {cov.raw_icps:,} ICPs with raw reads in the window have no output",
              {"raw_icps": cov.raw_icps, "output_icps": cov.icps, "missing_icps": cov.missing_icps,
               "missing_icps_sample": cov.missing_icps_sample, "icps_without_raw": cov.icps_without_raw,
               "icps_without_raw_sample": cov.icps_without_raw_sample}),
        Check("missing_dates", "structural", not cov.missing_dates,
              f"{len(cov.missing_dates)} date(s) of the window have no rows",
              {"missing_dates": cov.missing_dates}),
        Check("duplicate_keys", "structural", duplicates == 0,
              f"{duplicates:,} row(s) repeat an (icp_id, read_date, trading_period, buyer_seller) key",
              {"duplicates": duplicates}),
    ]


def refuse_partial(run_id: str, cov: Coverage, *, allow_partial: bool) -> None:
    """Raise ``PartialRunError`` if ``cov`` leaves dates or raw ICPs without output, unless allowed."""
    if cov.partial and not allow_partial:
        raise PartialRunError(run_id, cov)
