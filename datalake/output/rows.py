"""Output interval rows for a date range: the rows of the run that answers for each date
("latest" or a pinned run), streamed file by file, with the columns of the ``output_all``
view."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from datalake.output import pages
from datalake import schema
from datalake.lake import Lake, check_range, parse_date

OUTPUT_ROWS_SCHEMA = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("read_date", pa.date32()),
    pa.field("icp_id", pa.string()),
    pa.field("trading_period", pa.int16()),
    pa.field("read_time", pa.string()),
    pa.field("buyer_seller", pa.string()),
    pa.field("matched_amount", schema.AMOUNT_DECIMAL),
    pa.field("publish_datetime", schema.TIMESTAMP),
])
_FILE_COLUMNS = [f.name for f in OUTPUT_ROWS_SCHEMA][2:]


def output_rows(lake: Lake, start: dt.date | str, end: dt.date | str, *, run: str = "latest",
                batch_rows: int = 131_072) -> tuple[dict[dt.date, str], Iterator[pa.RecordBatch]]:
    """The runs answering for each date of ``start``..``end`` (resolved now: bad arguments
    raise here), and their rows as record batches: by date, then in each file's order
    (icp_id, trading_period, buyer_seller)."""
    start, end = parse_date(start, "start"), parse_date(end, "end")
    check_range(start, end)
    pinned = pages.resolve_runs(lake, start, end, run)
    sources = sorted(pages.sources(lake, pinned), key=lambda s: (s.day, str(s.data_file)))

    def batches() -> Iterator[pa.RecordBatch]:
        for source in sources:
            with source.data_file.open("rb") as f:
                for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=_FILE_COLUMNS):
                    n = batch.num_rows
                    yield pa.RecordBatch.from_arrays(
                        [pa.repeat(pa.scalar(source.run_id, pa.string()), n),
                         pa.repeat(pa.scalar(source.day, pa.date32()), n),
                         *(batch.column(c).cast(OUTPUT_ROWS_SCHEMA.field(c).type) for c in _FILE_COLUMNS)],
                        schema=OUTPUT_ROWS_SCHEMA)

    return pinned, batches()
