"""A lake whose raw reads come from a generated delivery, a CSV file, an EIEP3 file and an
EIEP13A file, some reads summed from two streams or registers: for the tests of the
attributes shown with ``fields=all``."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from datalake.demo.generate import generate, icp_ids
from datalake.lake import Lake
from datalake.raw.ingest import ingest_file
from tests.factories.eiep import eiep3_day, eiep13a_day, write_eiep3, write_eiep13a
from tests.factories.raw import day_rows, write_csv

START = dt.date(2018, 6, 1)
DAYS = 2
ICPS = 300
SEED = 17
BEFORE_EIEP = "ing-00000002"  # the snapshot after the generated and the CSV deliveries


def generated_icps() -> list[str]:
    return [str(i) for i in np.sort(icp_ids(ICPS, SEED))]


def build_attributes_lake(root: Path) -> Lake:
    """ing-1: 300 ICPs x 2 days generated (several blocks a date); ing-2: a CSV file of two
    new ICPs; ing-3: an EIEP3 file revising the first day of three generated ICPs (one of them
    from two streams) and adding one of its own over both days; ing-4: an EIEP13A file of one
    ICP read on two registers (one actual, one estimated) and one on a single meter."""
    lake = Lake.create(root / "lake")
    generate(lake, icps=ICPS, days=DAYS, start=START, seed=SEED)
    day1, day2 = START, START + dt.timedelta(days=1)
    ingest_file(lake, write_csv(root / "plain.csv", [*day_rows("CSV0000001AA", day1), *day_rows("CSV0000001AA", day2),
                                                     *day_rows("CSV0000002BB", day1, "I")]))
    ids = generated_icps()
    details = [*eiep3_day(ids[10], day1, seed=3, stream="S1"), *eiep3_day(ids[10], day1, seed=4, stream="S2"),
               *eiep3_day(ids[150], day1, seed=3), *eiep3_day(ids[290], day1, seed=3, reading="E"),
               *eiep3_day("EIEP3000001CC", day1), *eiep3_day("EIEP3000001CC", day2, stream="S9")]
    ingest_file(lake, write_eiep3(root / "ICPHH.txt", details, identifier="HH0042", status="R"))
    cons = [*eiep13a_day("E13A000001DD", day1, register="24", status="RD"),
            *eiep13a_day("E13A000001DD", day1, seed=2, register="25", status="ES"),
            *eiep13a_day("E13A000002EE", day2, meter="M77", direction="I")]
    ingest_file(lake, write_eiep13a(root / "ICPCONS.txt", cons, identifier="CONS0042"))
    return lake


def attributed_icps() -> list[str]:
    """The ICPs with reads delivered as EIEP, and the CSV ones."""
    ids = generated_icps()
    return [ids[10], ids[150], ids[290], "EIEP3000001CC", "E13A000001DD", "E13A000002EE", "CSV0000001AA",
            "CSV0000002BB"]
