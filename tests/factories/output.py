"""Deterministic algorithm-output deliveries for tests, in the brief's CSV format (spaces
after commas, quoted values) or as Arrow/Parquet tables."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from datalake.trading import ZONE, day_bounds, periods_in_day

HEADER = "icp_id, matched_amount, read_date, read_time, publish_datetime, buyer_seller"
PUBLISHED = "2018-06-27 16:39:36.057601+12"


def interval_rows(icp_ids: Sequence[str], days: Iterable[dt.date], *, seed: int = 1,
                  sides: Sequence[str] = ("buyer", "seller")) -> list[dict]:
    """One row per ICP, trading period and side, amounts with 4 decimals. Each row carries
    its trading_period; ``write_csv`` leaves it out unless asked."""
    rows = []
    for day in days:
        midnight = day_bounds(day)[0]
        for icp in icp_ids:
            rng = random.Random(f"{seed}-{icp}-{day}")
            for p in range(1, periods_in_day(day) + 1):
                local = (midnight + dt.timedelta(minutes=30 * (p - 1))).astimezone(ZONE)
                for side in sides:
                    rows.append({"icp_id": icp, "matched_amount": Decimal(rng.randint(0, 20000)) / 10000,
                                 "read_date": day.isoformat(), "read_time": f"{local:%H:%M:%S}",
                                 "publish_datetime": PUBLISHED, "buyer_seller": side, "trading_period": p})
    return rows


def write_csv(path: Path, rows: Iterable[dict], *, with_period: bool = False) -> Path:
    """The brief's format: ``101, "0.0000", "2018-06-13", "00:00:00", "...+12", "buyer"``."""
    header = HEADER + (", trading_period" if with_period else "")
    lines = [header]
    for r in rows:
        cells = [str(r["icp_id"])] + [f'"{r[c]:.4f}"' if c == "matched_amount" else f'"{r[c]}"'
                                      for c in ("matched_amount", "read_date", "read_time",
                                                "publish_datetime", "buyer_seller")]
        if with_period:
            cells.append(str(r["trading_period"]))
        lines.append(", ".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def days(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]
