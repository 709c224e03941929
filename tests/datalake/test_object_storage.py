"""A lake on a real S3-compatible server (SeaweedFS, started here on 127.0.0.1): the same
deliveries, runs and queries as on a local disk give the same answers, through the CLI, the
engine, the analyst views and the HTTP service; failed writes leave the store unchanged, and
commit records are never overwritten."""
from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from cli.main import main as cli_main
from datalake import lake as lake_module
from datalake.storage import blocks
from datalake.storage import leftovers
from datalake.output import reads as output
from datalake.raw import reads
from datalake import runs
from datalake.raw.bulk import read_bulk
from datalake.storage.location import is_local
from datalake.lake import Lake
from datalake.storage.files import PreconditionFailed, write_json_atomic
from tests.factories.output import days, interval_rows, publish_rows
from tests.factories.raw import day_rows, write_csv
from tests.seaweed import SeaweedServer
from tests.service.server import serve

ICPS = ["0000012345TR9A1", "0000067890UN2B2", "0000011111CE3C3"]
D = dt.date(2018, 6, 1)
N_DAYS = 3


@pytest.fixture(scope="module")
def s3(seaweed: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    folder = tmp_path_factory.mktemp("store-cache")
    server = seaweed
    saved = dict(os.environ)
    os.environ.update(server.environment(), METERLAKE_CACHE_DIR=str(folder / "cache"))
    try:
        yield server
    finally:
        os.environ.clear()
        os.environ.update(saved)


def objects(lake: Lake) -> dict[str, str]:
    """Every object under the lake's prefix, with its ETag."""
    found = lake.root.fs.find(lake.root.path, detail=True)
    return {k: v.get("ETag", "") for k, v in found.items()}


def cli(*args: object) -> int:
    return cli_main([str(a) for a in args])


def build(location: str, folder: Path) -> Lake:
    """Two raw deliveries (the second revises one ICP's first day), and two runs, the second
    overriding the first on its last day; both through the CLI and the engine's run API."""
    folder.mkdir(parents=True, exist_ok=True)
    assert cli("--lake", location, "init") == 0
    first = [r for icp in ICPS for d in days(D, N_DAYS) for r in day_rows(icp, d, seed=1)]
    revision = day_rows(ICPS[0], D, seed=2)
    for name, rows in (("first.csv", first), ("revision.csv", revision)):
        assert cli("--lake", location, "ingest", write_csv(folder / name, rows)) == 0
    lake = Lake(location)
    publish_rows(lake, folder, interval_rows(ICPS, days(D, N_DAYS), seed=1), D, D + dt.timedelta(days=N_DAYS - 1),
                 parts=2)
    publish_rows(lake, folder, interval_rows(ICPS[:2], [D + dt.timedelta(days=N_DAYS - 1)], seed=2),
                 D + dt.timedelta(days=N_DAYS - 1), D + dt.timedelta(days=N_DAYS - 1), version="2", allow_partial=True)
    return lake


@pytest.fixture(scope="module")
def lakes(s3: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Lake]:
    local_folder = tmp_path_factory.mktemp("local")
    remote_folder = tmp_path_factory.mktemp("remote-inputs")
    local = build(str(local_folder / "lake"), local_folder)
    remote = build(s3.url("lakes/main"), remote_folder)
    return local, remote


def test_store_holds_the_lake_and_this_host_keeps_only_caches(lakes: tuple[Lake, Lake]) -> None:
    _, remote = lakes
    names = objects(remote)
    prefix = remote.root.path
    assert f"{prefix}/lake.json" in names
    assert {f"{prefix}/_meta/ingests/ing-00000001.json", f"{prefix}/_meta/ingests/ing-00000002.json",
            f"{prefix}/_meta/runs/run-00000001.json", f"{prefix}/_meta/runs/run-00000002.json"} <= set(names)
    committed = {str(f.path).removeprefix("s3://") for f in remote.raw_files()}
    assert committed and committed <= set(names)
    assert not any("/_staging/" in n for n in names), "published runs leave no parts behind"
    assert str(remote.layout.local).startswith(os.environ["METERLAKE_CACHE_DIR"])
    assert not list(remote.layout.staging_dir.glob("*"))


def test_reads_and_revisions_match_the_local_lake(lakes: tuple[Lake, Lake]) -> None:
    local, remote = lakes
    end = D + dt.timedelta(days=N_DAYS - 1)
    for icp in ICPS:
        assert reads.read_icp(remote, icp, D, end) == reads.read_icp(local, icp, D, end)
    before = reads.read_icp(remote, ICPS[0], D, D, as_of="ing-00000001")
    after = reads.read_icp(remote, ICPS[0], D, D)
    assert before == reads.read_icp(local, ICPS[0], D, D, as_of="ing-00000001")
    assert before.column("interval_read") != after.column("interval_read")
    assert set(after.column("ingest_id").to_pylist()) == {"ing-00000002"}


def test_output_queries_match_the_local_lake(lakes: tuple[Lake, Lake]) -> None:
    local, remote = lakes
    end = D + dt.timedelta(days=N_DAYS - 1)
    for icp in ICPS:
        for side in ("buyer", "seller"):
            a = output.output_summary(remote, icp, start=D, end=end, buyer_seller=side)
            b = output.output_summary(local, icp, start=D, end=end, buyer_seller=side)
            assert a[0] == b[0]
    by_key_remote, _ = output.output_by_key(remote, D, end)
    by_key_local, _ = output.output_by_key(local, D, end)
    assert by_key_remote == by_key_local and by_key_remote.num_rows > 0
    assert [r["status"] for r in runs.list_runs(remote)] == ["published", "published"]
    assert output.resolve_runs(remote, D, end) == output.resolve_runs(local, D, end)


def test_views_and_check_work_on_the_store(lakes: tuple[Lake, Lake], tmp_path: Path) -> None:
    totals = []
    for n, lake in enumerate(lakes):
        out = tmp_path / f"totals-{n}.csv"
        assert cli("--lake", lake.root, "sql", "--csv", out,
                   "SELECT (SELECT count(*) FROM raw_reads) AS reads, (SELECT sum(interval_read) FROM raw_reads),"
                   " (SELECT count(*) FROM output_latest) AS output, (SELECT sum(matched_amount) FROM output_latest)"
                   ) == 0
        totals.append(out.read_text().splitlines()[1].split(","))
        assert cli("--lake", lake.root, "check") == 0
    assert totals[0] == totals[1]
    assert totals[1][0] == str(len(ICPS) * N_DAYS * 48)
    assert totals[1][2] == str(len(ICPS) * N_DAYS * 48 * 2 - 48 * 2)  # run 2 leaves out one ICP on its day


def test_bad_delivery_leaves_the_store_unchanged(lakes: tuple[Lake, Lake], tmp_path: Path) -> None:
    from datalake.errors import ValidationError
    from datalake.raw.ingest import ingest_file

    _, remote = lakes
    before = objects(remote)
    rows = day_rows(ICPS[1], D, seed=5)
    rows[7] = (rows[7][0], "not-a-number", rows[7][2], rows[7][3])
    with pytest.raises(ValidationError) as e:
        ingest_file(remote, write_csv(tmp_path / "bad.csv", rows))
    assert e.value.errors[0].row == 9 and e.value.errors[0].field == "interval_read"
    assert objects(remote) == before


def test_a_commit_record_is_never_overwritten(lakes: tuple[Lake, Lake]) -> None:
    _, remote = lakes
    record = remote.layout.ingest_record("ing-00000001")
    original = record.read_text()
    with pytest.raises(PreconditionFailed):
        write_json_atomic(record, {"ingest_id": "ing-00000001", "files": []}, exclusive=True)
    assert record.read_text() == original


def test_leftovers_on_the_store_wait_out_a_grace_period(lakes: tuple[Lake, Lake],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, remote = lakes
    stray = remote.layout.raw_file(D, "ing-00000099")
    stray.write_bytes(b"an upload another host has not committed yet")
    with remote.write_lock():
        assert stray.exists(), "a fresh uncommitted file may belong to a live writer elsewhere"
    monkeypatch.setattr(leftovers, "REMOTE_LEFTOVER_GRACE_S", 0)
    with remote.write_lock():
        pass
    assert not stray.exists()


def test_service_on_the_store(lakes: tuple[Lake, Lake]) -> None:
    local, remote = lakes
    end = (D + dt.timedelta(days=N_DAYS - 1)).isoformat()
    answers = []
    for lake in (local, remote):
        with serve(str(lake.root)) as url, httpx.Client(base_url=url, timeout=60) as http:
            q1 = http.get(f"/v1/icps/{ICPS[1]}/reads", params={"start": D.isoformat(), "end": end})
            q2 = http.get(f"/v1/icps/{ICPS[1]}/output/summary",
                          params={"start": D.isoformat(), "end": end, "buyer_seller": "buyer"})
            bulk = http.get("/v1/reads", params={"start": D.isoformat(), "end": end},
                            headers={"Accept": "application/vnd.apache.arrow.stream"})
            assert q1.status_code == q2.status_code == bulk.status_code == 200, (q1.text, q2.text, bulk.text)
            table = ipc.open_stream(io.BytesIO(bulk.content)).read_all()
            answers.append((q1.json(), q2.json(), table))
    (l1, l2, lt), (r1, r2, rt) = answers
    assert r1 == l1 and len(r1["reads"]) == N_DAYS * 48
    assert r2 == l2
    assert rt == lt and rt.num_rows == 432


def test_upload_and_publish_over_http_on_the_store(s3: SeaweedServer, tmp_path: Path) -> None:
    from client import MeterlakeClient
    from tests.factories.output import write_table

    location = s3.url("lakes/http")
    Lake.create(location)
    rows = interval_rows(ICPS, days(D, 2), seed=9)
    part = write_table(tmp_path / "part.parquet", rows).read_bytes()
    with serve(location) as url:
        client = MeterlakeClient(url)
        run = client.create_run(start=D.isoformat(), end=(D + dt.timedelta(days=1)).isoformat(),
                                algorithm="matcher", version="9")
        client.upload_part(run["run_id"], 1, part, content_type="application/vnd.apache.parquet")
        published = client.publish_run(run["run_id"])
    assert published["status"] == "published" and published["rows"] == len(rows)
    lake = Lake(location)
    summary = output.output_summary(lake, ICPS[0], start=D, end=D + dt.timedelta(days=1), buyer_seller="buyer")[0]
    expected = sum(float(r["matched_amount"]) for r in rows if r["icp_id"] == ICPS[0] and r["buyer_seller"] == "buyer")
    assert float(pa.compute.sum(summary.column("matched_amount")).as_py()) == pytest.approx(expected)


def test_lookups_read_one_range_a_date_file_once_footers_are_cached(lakes: tuple[Lake, Lake], monkeypatch) -> None:
    local, remote = lakes
    end = D + dt.timedelta(days=N_DAYS - 1)
    files = remote.raw_files(D, end)
    assert all(not is_local(remote.layout.blocks_of(f.path)) and remote.layout.blocks_of(f.path).exists()
               for f in files)
    ranges = []
    real = blocks._read_range
    monkeypatch.setattr(blocks, "_read_range", lambda path, a, b: ranges.append(path) or real(path, a, b))
    blocks.footers._files.clear()
    fresh = Lake(str(remote.root))
    assert reads.read_icp(fresh, ICPS[2], D, end) == reads.read_icp(local, ICPS[2], D, end)
    assert len(ranges) <= 3 * len(files)  # a footer (one tail read, rarely two), then a block
    ranges.clear()
    assert reads.read_icp(fresh, ICPS[1], D, end) == reads.read_icp(local, ICPS[1], D, end)
    assert len(ranges) == len(files)


def test_bulk_stream_from_the_store(lakes: tuple[Lake, Lake]) -> None:
    local, remote = lakes
    end = D + dt.timedelta(days=N_DAYS - 1)
    for case in (dict(), dict(shard="1/2", direction="X"), dict(dictionary=True)):
        got = read_bulk(remote, D, end, **case).reader().read_all()
        assert got.num_rows > 0 and got.equals(read_bulk(local, D, end, **case).reader().read_all()), case


def test_compaction_and_vacuum_on_the_store(s3: SeaweedServer, tmp_path: Path) -> None:
    location = s3.url("lakes/compact")
    assert cli("--lake", location, "init") == 0
    for seed in (1, 2):
        rows = [r for icp in ICPS for r in day_rows(icp, D, seed=seed)]
        assert cli("--lake", location, "ingest", write_csv(tmp_path / f"d{seed}.csv", rows)) == 0
    lake = Lake(location)
    replaced = [f.path for f in lake.raw_files()]
    expected = {icp: reads.read_icp(lake, icp, D, D) for icp in ICPS}
    history = reads.read_icp(lake, ICPS[0], D, D, as_of="ing-00000001")
    assert cli("--lake", location, "compact", "--min-files", "2") == 0
    lake = Lake(location)
    assert len(lake.raw_files()) == 1 and all(p.exists() for p in replaced)
    assert {icp: reads.read_icp(lake, icp, D, D) for icp in ICPS} == expected
    assert reads.read_icp(lake, ICPS[0], D, D, as_of="ing-00000001") == history
    assert cli("--lake", location, "vacuum", "--older-than", "0s") == 0
    assert not any(p.exists() for p in replaced)
    assert cli("--lake", location, "check") == 0


def test_polars_reads_the_store_with_the_recorded_file_list(lakes: tuple[Lake, Lake]) -> None:
    import polars as pl

    local, remote = lakes
    options = {"aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"], "aws_allow_http": "true",
               "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
               "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"], "aws_region": "us-east-1"}
    totals = []
    for lake, storage_options in ((local, None), (remote, options)):
        files = [str(f.path) for f in lake.raw_files()]
        frame = pl.scan_parquet(files, hive_partitioning=True, hive_schema={"read_date": pl.Date},
                                storage_options=storage_options)
        key = ["icp_id", "read_timestamp", "energy_flow_direction"]
        latest = frame.filter(pl.col("ingest_id") == pl.col("ingest_id").max().over(key))
        totals.append(latest.select(pl.len(), pl.col("interval_read").sum()).collect().row(0))
    assert totals[0] == totals[1] and totals[1][0] == len(ICPS) * N_DAYS * 48


def test_a_commit_on_one_host_shows_on_another_within_the_poll_interval(s3: SeaweedServer, tmp_path: Path) -> None:
    import time

    from datalake.raw.ingest import ingest_file

    location = s3.url("lakes/two-hosts")
    Lake.create(location)
    writer, reader = Lake(location), Lake(location)
    assert reader.head_ingest() is None  # the reader has listed the store
    ingest_file(writer, write_csv(tmp_path / "d.csv", day_rows(ICPS[0], D)))
    assert writer.head_ingest() == "ing-00000001", "the committing handle sees its commit at once"
    deadline = time.monotonic() + lake_module.STORE_POLL_S + 1
    while reader.head_ingest() is None:
        assert time.monotonic() < deadline, "the other handle must see the commit within the poll interval"
        time.sleep(0.05)
    assert reads.read_icp(reader, ICPS[0], D, D) == reads.read_icp(writer, ICPS[0], D, D)
