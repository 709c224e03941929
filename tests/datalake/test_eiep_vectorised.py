"""The vectorised EIEP3 steps against plain Python: repeats collapsed and streams summed by
``delivery`` on a generated multi-stream file with repeats, the columnar reader on the same
file without them, and the attributes file's sort skipped only when it would not move a row."""
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from datalake.delivery.eiep3 import read_eiep3
from datalake.delivery.eiep3fast import read_eiep3_fast
from datalake.delivery.rawtypes import typed_table
from datalake.raw.attributes import SORT_KEY, _in_order
from tests.factories.eiep import eiep3_det, write_eiep3

DAYS = (dt.date(2018, 6, 14), dt.date(2018, 9, 30), dt.date(2018, 4, 1))  # 48, 46 and 50 periods


def generated(seed: int = 7) -> tuple[list[str], list[str]]:
    """Detail records of a few ICPs, two streams each way, and the same with repeats."""
    rng = random.Random(seed)
    clean = []
    for icp in ("ICPA", "ICPB", "ICPC"):
        for day in DAYS:
            for period in range(1, 47):
                for stream, direction in (("A1", "X"), ("B2", "X"), ("C3", "I"), ("", "I")):
                    clean.append(eiep3_det(icp, day, period, f"{rng.randint(0, 3000) / 1000:.3f}", stream=stream,
                                           direction=direction, reactive=rng.choice(["", "0.125", "1.5"])))
    repeated = list(clean)
    for record in rng.sample(clean, 60):
        repeated.insert(rng.randrange(repeated.index(record) + 1, len(repeated) + 1), record)
    return clean, repeated


def expected_reads(records: list[str]) -> dict[tuple, int]:
    """The raw reads by (ICP, date, period, direction): kWh x 1000 summed over streams, each
    (ICP, stream, date, period, direction) counted once."""
    seen, totals = set(), {}
    for record in records:
        f = record.split(",")
        if (f[1], f[2], f[4], f[5], f[9]) in seen:
            continue
        seen.add((f[1], f[2], f[4], f[5], f[9]))
        key = (f[1], f[4], int(f[5]), f[9])
        totals[key] = totals.get(key, 0) + round(float(f[6]) * 1000)
    return totals


def test_delivery_collapses_repeats_and_sums_streams_like_plain_python(tmp_path: Path) -> None:
    clean, repeated = generated()
    slow = read_eiep3(write_eiep3(tmp_path / "repeated.txt", repeated), "repeated.txt")
    assert slow.repeats_collapsed == 60 and slow.attributes.num_rows == len(clean)
    reads = typed_table(slow.table, slow.typed).to_pylist()
    assert len(reads) == len(expected_reads(clean))
    assert [r["_row"] for r in reads] == sorted(r["_row"] for r in reads)
    lines = slow.attributes["line"].to_pylist()
    by_line = dict(zip(lines, zip(slow.attributes["trading_period"].to_pylist(),
                                  slow.attributes["read_date"].to_pylist())))
    got = {(r["icp_id"], f"{by_line[r['_row']][1]:%d/%m/%Y}", by_line[r["_row"]][0], r["energy_flow_direction"]):
           int(r["interval_read"] * 1000) for r in reads}
    assert got == expected_reads(clean)
    fast = read_eiep3_fast(write_eiep3(tmp_path / "clean.txt", clean), "clean.txt")
    line_reader = read_eiep3(tmp_path / "clean.txt", "clean.txt")
    assert fast is not None and fast.attributes == line_reader.attributes
    assert typed_table(fast.table, fast.typed) == typed_table(line_reader.table, line_reader.typed)
    # Same reads and attributes, but for the lines the repeats moved.
    columns = [c for c in fast.attributes.column_names if c != "line"]
    assert slow.attributes.select(columns) == fast.attributes.select(columns)
    assert typed_table(slow.table, slow.typed).drop_columns(["_row"]) == \
        typed_table(fast.table, fast.typed).drop_columns(["_row"])
    assert read_eiep3_fast(tmp_path / "repeated.txt", "repeated.txt") is None


def test_the_attributes_sort_is_skipped_only_for_a_table_in_order() -> None:
    rng = random.Random(3)
    rows = [{"read_date": rng.randint(0, 2), "icp_id": rng.choice("abc"), "read_timestamp": rng.randint(0, 3),
             "energy_flow_direction": rng.choice("IX"), "stream_id": rng.choice(["1", "2", None]),
             "register_content_code": None} for _ in range(400)]
    table = pa.Table.from_pylist(rows, schema=pa.schema([("read_date", pa.int32()), ("icp_id", pa.string()),
                                                          ("read_timestamp", pa.int64()),
                                                          ("energy_flow_direction", pa.string()),
                                                          ("stream_id", pa.string()),
                                                          ("register_content_code", pa.string())]))
    assert not _in_order(table)
    ordered = table.take(pc.sort_indices(table, sort_keys=SORT_KEY))
    assert not _in_order(ordered)  # some stream_id nulls: left to the sort
    filled = ordered.set_column(4, "stream_id", pc.fill_null(ordered["stream_id"], "0"))
    resorted = filled.take(pc.sort_indices(filled, sort_keys=SORT_KEY))
    assert _in_order(resorted) and pc.sort_indices(resorted, sort_keys=SORT_KEY).to_pylist() == list(range(400))
    assert not _in_order(resorted.take(pa.array([1, 0] + list(range(2, 400)))))
