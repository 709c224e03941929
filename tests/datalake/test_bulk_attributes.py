"""The bulk stream's attributes (``fields=all``) read a range of ICPs at a time: every row
has the attributes one ICP's reads give it, and the rule that presents a summed read's
attributes is the one it always was."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datalake.lake import Lake
from datalake.raw.attributes import READ_ATTRIBUTES, READ_ATTRIBUTES_SCHEMA, present, with_attributes
from datalake.raw.bulk import BULK_READS_SCHEMA, read_bulk
from datalake.raw.reads import read_icp
from tests.factories.attrlake import BEFORE_EIEP, START, attributed_icps, build_attributes_lake

END = START + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_attributes_lake(tmp_path_factory.mktemp("bulkattr"))


@pytest.mark.parametrize("as_of", [None, BEFORE_EIEP])
def test_every_range_has_the_attributes_of_one_icps_reads(lake: Lake, as_of: str | None) -> None:
    bulk = read_bulk(lake, START, END, as_of=as_of, attributes=True, chunk_rows=8192)  # a range a block
    batches = list(bulk.batches)
    assert len(batches) > 1
    table = pa.Table.from_batches(batches, bulk.schema)
    plain = read_bulk(lake, START, END, as_of=as_of).reader().read_all()
    assert table.select(BULK_READS_SCHEMA.names).equals(plain)
    for icp in attributed_icps():
        one = with_attributes(lake, read_icp(lake, icp, START, END, as_of=as_of), icp)
        mine = table.filter(pc.equal(table["icp_id"], icp)).select(one.schema.names)
        assert mine.equals(one), icp
    # Before the EIEP files, the reads they revised were there, from the generated delivery.
    assert all(read_icp(lake, icp, START, END, as_of=as_of).num_rows for icp in attributed_icps()[:3])
    attributed = table.filter(pc.is_valid(table["file_type"]))
    assert attributed.num_rows == (0 if as_of else 336)


def reference(rows: list[dict]) -> dict:
    """The rule as first written, a read at a time: sorted distinct values joined by ","."""
    out = {}
    for c in READ_ATTRIBUTES:
        values = sorted({r[c] for r in rows if r[c] is not None})
        out[c] = ",".join(values) if values else None
    out["offset_inferred"] = any(r["offset_inferred"] for r in rows) if rows else None
    return out


def test_present_is_the_rule_of_one_read_at_a_time() -> None:
    stamp = dt.datetime(2018, 6, 1, 12, tzinfo=dt.timezone.utc)
    key = {"icp_id": "A", "read_timestamp": stamp, "energy_flow_direction": "X", "ingest_id": "ing-00000002"}
    blank = dict.fromkeys(READ_ATTRIBUTES)
    rows = [{**key, **blank, "stream_id": "S2", "reading_type": "RD", "file_type": "eiep13a", "offset_inferred": False},
            {**key, **blank, "stream_id": "S1", "reading_type": "RD", "file_type": "eiep13a", "offset_inferred": True},
            {**key, **blank, "stream_id": "S1", "register_content_code": "9", "file_type": "eiep13a",
             "offset_inferred": False},
            {**key, **blank, "icp_id": "B", "stream_id": "Z", "offset_inferred": False},
            {**key, **blank, "ingest_id": "ing-00000001", "stream_id": "old", "offset_inferred": False}]
    reads = [key, {**key, "icp_id": "B"}, {**key, "icp_id": "C"}, {**key, "ingest_id": "ing-00000001"},
             {**key, "energy_flow_direction": "I"}]
    table = pa.Table.from_pylist(rows, pa.schema([pa.field("icp_id", pa.string()),
                                                  pa.field("read_timestamp", pa.timestamp("us", "UTC")),
                                                  pa.field("energy_flow_direction", pa.string()),
                                                  pa.field("ingest_id", pa.string()), *READ_ATTRIBUTES_SCHEMA]))
    keys = pa.Table.from_pylist(reads, pa.schema(list(table.schema)[:4]))
    got = present(keys, table)
    want = [reference([r for r in rows if all(r[k] == read[k] for k in key)]) for read in reads]
    assert got.to_pylist() == want
    assert want[0] == {"stream_id": "S1,S2", "register_content_code": "9", "reading_type": "RD",
                       "file_type": "eiep13a", "file_identifier": None, "file_status": None, "offset_inferred": True}
    assert got.schema == READ_ATTRIBUTES_SCHEMA and present(keys.slice(0, 0), table).num_rows == 0
    assert present(keys, None).to_pylist() == [reference([])] * len(reads)
