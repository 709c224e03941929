"""Deterministic raw-read deliveries for tests, in the brief's CSV format."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

from datalake.trading import ZONE, day_bounds, periods_in_day

HEADER = "read_timestamp,interval_read,energy_flow_direction,icp_id"


def nz_text(instant: dt.datetime) -> str:
    """An instant as the brief writes it: local time with a +12/+13 offset."""
    local = instant.astimezone(ZONE)
    hours = int(local.utcoffset().total_seconds() // 3600)
    return f"{local:%Y-%m-%d %H:%M:%S}{hours:+03d}"


def day_rows(icp_id: str, day: dt.date, direction: str = "X", *, seed: int = 1) -> list[tuple[str, str, str, str]]:
    """Every half hour of one trading date for one ICP, values with 3 decimals."""
    rng = random.Random(f"{seed}-{icp_id}-{day}-{direction}")
    start = day_bounds(day)[0]
    return [(nz_text(start + dt.timedelta(minutes=30 * (p + 1))), f"{rng.randint(0, 3000) / 1000:.3f}",
             direction, icp_id) for p in range(periods_in_day(day))]


def write_csv(path: Path, rows: Iterable[tuple[str, ...]], header: str = HEADER) -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path
