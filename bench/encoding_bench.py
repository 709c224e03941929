"""Encoding alone, in-process: query 1's JSON (one ICP's raw reads) and a bulk stream (Arrow, CSV).

Runs against whichever tree ``PYTHONPATH`` puts first, so the same script measures a tree
before and after a change (export the old one with ``git archive``). A bulk stream's chunks
are cut into 256 KiB pieces as ``_pieces`` does for the server; the batches are read
first, so only encoding (and that copy) is timed.

    PYTHONPATH=<tree> python bench/encoding_bench.py --lake /tmp/enc/lake [--rounds 9]
"""
from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import msgspec

from datalake.raw import bulk
from datalake.raw import reads
from datalake.lake import Lake
from service import encoding
from service.encoding import streams
from service.negotiation import Format
from service.structs import IcpReads

PIECE = 1 << 18
REQUEST = SimpleNamespace(app=SimpleNamespace(state={}), scope={}, url=SimpleNamespace(path="/"))


def cut(chunks, piece: int = PIECE):
    """The pieces the server sends: chunks are bytes, a pa.Buffer, or a list of parts."""
    for chunk in chunks:
        yield from streams.pieces_of(chunk if isinstance(chunk, list) else [chunk], piece)


def arrow_paths(schema, batches):
    """name -> a function giving the stream's chunks, for each Arrow path the tree has."""
    if hasattr(encoding, "streams") and hasattr(encoding.streams, "arrow_chunks"):
        return {"stream writer": lambda: encoding.streams.arrow_chunks(REQUEST, schema, iter(batches), Format.ARROW)}
    return {"hand-serialized": lambda: encoding._arrow_chunks(REQUEST, schema, iter(batches), Format.ARROW),
            "stream writer": lambda: encoding._arrow_writer_chunks(REQUEST, schema, iter(batches), Format.ARROW)}


def csv_path(schema, batches):
    chunks = (encoding.streams.csv_chunks if hasattr(encoding, "streams") else encoding._csv_chunks)
    return lambda: chunks(REQUEST, schema, iter(batches), Format.CSV)


def timed(f, rounds: int, number: int = 1) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            f()
        times.append((time.perf_counter() - start) / number)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", required=True)
    ap.add_argument("--start", default="2018-06-01")
    ap.add_argument("--end", default="2018-06-14")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    lake = Lake(args.lake)
    stream = bulk.read_bulk(lake, args.start, args.end)
    batches = list(stream.batches)
    rows = sum(b.num_rows for b in batches)
    icp = batches[0]["icp_id"][0].as_py()
    table = reads.read_icp(lake, icp, args.start, args.end, ingest_id=False)

    def envelope(items):
        return IcpReads(icp_id=icp, start=args.start, end=args.end, as_of="ing-00000001", reads=items)

    body = encoding.json_body(table, envelope)
    print(f"tree: {encoding.__file__}")
    print(f"query 1: {icp}, {table.num_rows} rows, {len(body)} bytes, md5-free check: "
          f"{msgspec.json.decode(body)['reads'][0]['read_timestamp']}")
    times = [t * 1e6 for t in timed(lambda: encoding.json_body(table, envelope), args.rounds * 5, 200)]
    print(f"  json_body: min {min(times):.0f} us, median {statistics.median(times):.0f} us (of {len(times)} x 200)")
    print(f"bulk: {len(batches)} batches, {rows:,} rows")
    paths = {**arrow_paths(stream.schema, batches), "csv": csv_path(stream.schema, batches)}
    for name, chunks in paths.items():
        size = sum(len(p) for p in cut(chunks()))
        times = timed(lambda: sum(len(p) for p in cut(chunks())), args.rounds if name != "csv" else 3)
        best, median = min(times), statistics.median(times)
        print(f"  {name}: {size:,} bytes; min {best * 1e3:.1f} ms ({size / best / 1e9:.2f} GB/s, "
              f"{rows / best / 1e6:.0f}M rows/s), median {median * 1e3:.1f} ms "
              f"({size / median / 1e9:.2f} GB/s, {rows / median / 1e6:.0f}M rows/s)")


if __name__ == "__main__":
    main()
