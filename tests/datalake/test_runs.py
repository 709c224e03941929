"""Run lifecycle on real files: records, transitions, formats, latest resolution, totals."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from datalake.output import reads as output
from datalake import runs
from datalake.errors import ConflictError, InvalidArgumentError, NotFoundError
from datalake.lake import Lake
from tests.factories.output import days, interval_rows, publish_rows, write_csv, write_table

JUNE = dt.date(2018, 6, 1)
ICPS = ["101", "102", "0000012345TR9A1"]


def rows_for(n_days: int = 3, seed: int = 1, start: dt.date = JUNE) -> list[dict]:
    return interval_rows(ICPS, days(start, n_days), seed=seed)


def plain_totals(lake: Lake, record: dict) -> dict[str, str]:
    """Totals straight from the run's Parquet files, with no engine code in between."""
    glob = str(lake.layout.run_dir(record["run_id"]) / "*" / "*.parquet")
    rows = duckdb.sql(f"SELECT buyer_seller, sum(matched_amount) FROM read_parquet('{glob}') GROUP BY 1").fetchall()
    return {side: f"{amount:.4f}" for side, amount in rows}


def test_create_upload_publish_writes_sorted_files_and_a_full_record(lake: Lake, tmp_path: Path) -> None:
    rows = rows_for()
    record = publish_rows(lake, tmp_path, rows, JUNE, JUNE + dt.timedelta(days=2), parts=2)

    assert record["run_id"] == "run-00000001"
    assert record["status"] == "published"
    assert (record["start"], record["end"]) == ("2018-06-01", "2018-06-03")
    assert record["rows"] == len(rows) == 3 * 3 * 48 * 2
    assert record["rows_by_buyer_seller"] == {"buyer": len(rows) // 2, "seller": len(rows) // 2}
    expected = {side: f"{sum(r['matched_amount'] for r in rows if r['buyer_seller'] == side):.4f}"
                for side in ("buyer", "seller")}
    assert record["totals"] == expected == plain_totals(lake, record)
    assert [p["part"] for p in record["parts"]] == [1, 2]
    # The lake has no raw reads: no raw ICP lacks output, and every output ICP is without raw reads.
    assert (record["icps"], record["missing_icps"], record["icps_without_raw"]) == (3, 0, 3)
    assert record["missing_dates"] == [] and record["partial"] is False
    assert record["published_at"] and record["publish_seq"] == 1 and record["created_at"]
    assert record["dates"] == ["2018-06-01", "2018-06-02", "2018-06-03"]
    for f in record["files"]:
        path = lake.root / f["path"]
        assert path.parent.name == f"read_date={f['read_date']}"
        assert path.parent.parent.name == "run_id=run-00000001"
        table = pq.read_table(path)
        assert table.num_rows == f["rows"]
        assert table.column("icp_id").to_pylist() == sorted(table.column("icp_id").to_pylist())
        assert str(table.schema.field("matched_amount").type) == "decimal128(18, 4)"
        assert str(table.schema.field("publish_datetime").type) == "timestamp[us, tz=UTC]"
    assert not lake.layout.run_parts_dir("run-00000001").exists()
    assert runs.get_run(lake, "run-00000001") == record
    assert json.loads(lake.layout.run_record("run-00000001").read_text()) == record


def test_parquet_and_arrow_uploads_match_csv(lake: Lake, tmp_path: Path) -> None:
    rows = rows_for(n_days=1)
    csv_run = publish_rows(lake, tmp_path, rows, JUNE, JUNE)
    for fmt in ("parquet", "arrow"):
        record = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version=fmt)
        entry = runs.upload_part(lake, record["run_id"], 1, write_table(tmp_path / f"p.{fmt}", rows, fmt))
        assert entry["format"] == fmt and entry["rows"] == len(rows)
        assert runs.publish_run(lake, record["run_id"])["totals"] == csv_run["totals"]


def test_reupload_replaces_the_part(lake: Lake, tmp_path: Path) -> None:
    record = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1")
    run = record["run_id"]
    runs.upload_part(lake, run, 1, write_csv(tmp_path / "a.csv", rows_for(1, seed=1)))
    runs.upload_part(lake, run, 1, write_csv(tmp_path / "b.csv", rows_for(1, seed=2)))
    assert [p["source_name"] for p in runs.get_run(lake, run)["parts"]] == ["b.csv"]
    published = runs.publish_run(lake, run)
    other = publish_rows(lake, tmp_path, rows_for(1, seed=2), JUNE, JUNE)
    assert published["totals"] == other["totals"] and published["rows"] == other["rows"]


def test_transitions_and_their_conflicts(lake: Lake, tmp_path: Path) -> None:
    record = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1", actor="alice")
    run = record["run_id"]
    assert record["created_by"] == "alice" and record["status"] == "open"
    with pytest.raises(ConflictError, match="no parts"):
        runs.publish_run(lake, run)
    with pytest.raises(ConflictError, match="it is open"):
        runs.retract_run(lake, run)
    runs.upload_part(lake, run, 1, write_csv(tmp_path / "a.csv", rows_for(1)))
    aborted = runs.abort_run(lake, run, actor="bob")
    assert (aborted["status"], aborted["aborted_by"]) == ("aborted", "bob")
    assert not lake.layout.run_parts_dir(run).exists()
    for action in (runs.publish_run, runs.abort_run, runs.retract_run):
        with pytest.raises(ConflictError):
            action(lake, run)
    with pytest.raises(ConflictError):
        runs.upload_part(lake, run, 1, tmp_path / "a.csv")

    published = publish_rows(lake, tmp_path, rows_for(1), JUNE, JUNE)
    with pytest.raises(ConflictError, match="it is published"):
        runs.abort_run(lake, published["run_id"])
    retracted = runs.retract_run(lake, published["run_id"], actor="carol")
    assert (retracted["status"], retracted["retracted_by"]) == ("retracted", "carol")
    with pytest.raises(ConflictError):
        runs.retract_run(lake, published["run_id"])
    with pytest.raises(ConflictError):
        runs.publish_run(lake, published["run_id"])


def test_unknown_and_malformed_runs(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        runs.get_run(lake, "run-00000042")
    with pytest.raises(NotFoundError):
        runs.publish_run(lake, "run-00000042")
    with pytest.raises(InvalidArgumentError):
        runs.get_run(lake, "../../etc/passwd")
    record = runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1")
    for part in (0, -1, 100_000, True):
        with pytest.raises(InvalidArgumentError):
            runs.upload_part(lake, record["run_id"], part, tmp_path)
    with pytest.raises(InvalidArgumentError):
        runs.create_run(lake, start=JUNE, end=JUNE - dt.timedelta(days=1), algorithm="m", version="1")
    with pytest.raises(InvalidArgumentError):
        runs.create_run(lake, start=JUNE, end=JUNE, algorithm="", version="1")
    with pytest.raises(InvalidArgumentError):
        runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1", params=[1])
    with pytest.raises(NotFoundError):
        runs.create_run(lake, start=JUNE, end=JUNE, algorithm="m", version="1", raw_as_of="ing-00000009")
    with pytest.raises(InvalidArgumentError):
        runs.list_runs(lake, status="done")


def test_two_runs_over_one_window_differ_and_both_stay_readable(lake: Lake, tmp_path: Path) -> None:
    first = publish_rows(lake, tmp_path, rows_for(seed=1), JUNE, JUNE + dt.timedelta(days=2))
    second = publish_rows(lake, tmp_path, rows_for(seed=2), JUNE, JUNE + dt.timedelta(days=2), version="2")
    assert first["totals"] != second["totals"]
    for record in (first, second):
        table, _ = output.output_by_key(lake, JUNE, JUNE + dt.timedelta(days=2), by=["buyer_seller"],
                                        run=record["run_id"])
        assert {r["buyer_seller"]: f"{r['matched_amount']:.4f}" for r in table.to_pylist()} == record["totals"]
        assert plain_totals(lake, record) == record["totals"]
    latest, _ = output.output_by_key(lake, JUNE, JUNE + dt.timedelta(days=2), by=["buyer_seller"])
    assert {r["buyer_seller"]: f"{r['matched_amount']:.4f}" for r in latest.to_pylist()} == second["totals"]


def test_latest_follows_the_newest_publish_and_falls_back_on_retract(lake: Lake, tmp_path: Path) -> None:
    window = (JUNE, JUNE + dt.timedelta(days=1))
    a = publish_rows(lake, tmp_path, rows_for(2, seed=1), *window)
    # b is created before c but published after it: latest follows the publish order.
    b = runs.create_run(lake, start=window[0], end=window[1], algorithm="m", version="b")
    runs.upload_part(lake, b["run_id"], 1, write_csv(tmp_path / "b.csv", rows_for(2, seed=2)))
    c = publish_rows(lake, tmp_path, rows_for(2, seed=3), *window)
    assert set(output.resolve_runs(lake, *window).values()) == {c["run_id"]}
    runs.publish_run(lake, b["run_id"])
    assert set(output.resolve_runs(lake, *window).values()) == {b["run_id"]}
    runs.retract_run(lake, b["run_id"])
    assert set(output.resolve_runs(lake, *window).values()) == {c["run_id"]}
    runs.retract_run(lake, c["run_id"])
    assert set(output.resolve_runs(lake, *window).values()) == {a["run_id"]}
    runs.retract_run(lake, a["run_id"])
    assert output.resolve_runs(lake, *window) == {}
    # Retracted runs stay readable when pinned.
    assert set(output.resolve_runs(lake, *window, run=b["run_id"]).values()) == {b["run_id"]}


def test_overlapping_windows_resolve_date_by_date(lake: Lake, tmp_path: Path) -> None:
    d = [JUNE + dt.timedelta(days=i) for i in range(6)]
    wide = publish_rows(lake, tmp_path, rows_for(6, seed=1), d[0], d[5])
    middle = publish_rows(lake, tmp_path, rows_for(2, seed=2, start=d[2]), d[2], d[3])
    late = publish_rows(lake, tmp_path, rows_for(2, seed=3, start=d[3]), d[3], d[4])
    w, m, l = wide["run_id"], middle["run_id"], late["run_id"]
    assert output.resolve_runs(lake, d[0] - dt.timedelta(days=1), d[5] + dt.timedelta(days=1)) == {
        d[0]: w, d[1]: w, d[2]: m, d[3]: l, d[4]: l, d[5]: w}
    table, _ = output.output_summary(lake, "101", granularity="day", limit=None)
    assert [(r["period"], r["runs"]) for r in table.to_pylist() if r["buyer_seller"] == "buyer"] == [
        (day.isoformat(), [run]) for day, run in zip(d, [w, w, m, l, l, w])]
    runs.retract_run(lake, l)
    assert output.resolve_runs(lake, d[3], d[4]) == {d[3]: m, d[4]: w}
    with pytest.raises(ConflictError):
        output.resolve_runs(lake, d[0], d[5], run=runs.create_run(
            lake, start=d[0], end=d[0], algorithm="m", version="x")["run_id"])


def test_icps_without_raw_counts_output_icps_absent_from_the_raw_snapshot(lake: Lake, tmp_path: Path) -> None:
    from datalake.demo.generate import generate

    generate(lake, icps=2, days=1, start=JUNE, seed=3)
    known = duckdb.sql(f"SELECT DISTINCT icp_id FROM read_parquet('{lake.root}/raw/*/*.parquet') "
                       "ORDER BY 1").fetchall()
    icps = [known[0][0], known[1][0], "NOTINRAW1"]
    record = publish_rows(lake, tmp_path, interval_rows(icps, [JUNE]), JUNE, JUNE)
    assert record["raw_as_of"] == lake.head_ingest()
    assert (record["icps"], record["raw_icps"], record["missing_icps"]) == (3, 2, 0)
    assert (record["icps_without_raw"], record["icps_without_raw_sample"]) == (1, ["NOTINRAW1"])


def test_demo_runs_publish_two_different_runs(lake: Lake) -> None:
    from datalake.demo.runs import demo_runs
    from datalake.demo.generate import generate

    generate(lake, icps=20, days=3, start=JUNE, seed=3)
    first, second = demo_runs(lake, count=2, parts=2)
    assert first["status"] == second["status"] == "published"
    assert (first["start"], first["end"]) == (second["start"], second["end"]) == ("2018-06-01", "2018-06-03")
    assert first["rows"] == second["rows"] == 20 * 3 * 48
    assert first["totals"] != second["totals"]
    assert first["missing_icps"] == 0
    assert plain_totals(lake, first) == first["totals"]


def test_cli_lifecycle(cli, lake: Lake, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "out.csv", rows_for(1))
    res = cli("--lake", lake.root, "runs", "import", csv, "--start", "2018-06-01", "--end", "2018-06-01",
              "--algorithm", "matcher", "--version", "2.1", "--params", '{"threshold": 0.5}')
    assert res.code == 0, res.err
    assert res.out.startswith("run-00000001  published  2018-06-01..2018-06-01  matcher 2.1  rows=")
    record = runs.get_run(lake, "run-00000001")
    assert (record["status"], record["params"], record["version"]) == ("published", {"threshold": 0.5}, "2.1")

    res = cli("--lake", lake.root, "runs", "create", "--start", "2018-06-01", "--end", "2018-06-01", "--json")
    run = json.loads(res.out)["run_id"]
    assert cli("--lake", lake.root, "runs", "upload", run, csv, "--part", "3").code == 0
    assert cli("--lake", lake.root, "runs", "publish", run).out.split()[:2] == [run, "published"]
    assert json.loads(cli("--lake", lake.root, "runs", "retract", run, "--json").out)["status"] == "retracted"
    res = cli("--lake", lake.root, "runs", "publish", run)
    assert res.code == 2 and "it is retracted" in res.err
    listed = cli("--lake", lake.root, "runs", "list").out.splitlines()
    assert [line.split()[:2] for line in listed] == [["run-00000001", "published"], ["run-00000002", "retracted"]]
    assert json.loads(cli("--lake", lake.root, "runs", "show", run, "--json").out)["run_id"] == run
    assert cli("--lake", lake.root, "runs", "show", "run-00000099").code == 2

    bad = tmp_path / "bad.csv"
    bad.write_text(csv.read_text().replace('"buyer"', '"broker"', 1))
    res = cli("--lake", lake.root, "runs", "import", bad, "--start", "2018-06-01", "--end", "2018-06-01")
    assert res.code == 1 and "part 1:2: buyer_seller='broker' must be buyer or seller" in res.err
    assert runs.get_run(lake, "run-00000003")["status"] == "aborted"


def test_amounts_stay_exact(lake: Lake, tmp_path: Path) -> None:
    rows = interval_rows(["101"], [JUNE], sides=("buyer",))
    for r in rows:
        r["matched_amount"] = Decimal("0.1")
    record = publish_rows(lake, tmp_path, rows, JUNE, JUNE)
    assert record["totals"] == {"buyer": "4.8000"}
