"""meterlake migrate: a version 0 lake moved to version 1 answers as before; steps are
idempotent and survive being stopped part-way; newer lakes are refused untouched."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from datalake.maintenance import migrate as migrations
from datalake.output import reads as output
from datalake import schema
from datalake import sql
from datalake import views
from datalake.maintenance.check import check_lake
from datalake.errors import LakeFormatError
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from tests.factories import v0

END = v0.START + dt.timedelta(days=2)


def answers(lake: Lake) -> dict:
    """What readers see: view totals, one ICP's reads, latest output by key."""
    con = sql.connect()
    try:
        views.define_views(con, lake)
        raw = con.sql("SELECT count(*), sum(interval_read) FROM raw_reads").fetchall()
        latest = con.sql("SELECT run_id, count(*), sum(matched_amount) FROM output_latest GROUP BY 1 ORDER BY 1").fetchall()
        icp = con.sql("SELECT min(icp_id) FROM raw_reads").fetchall()[0][0]
    finally:
        con.close()
    by_key, _ = output.output_by_key(lake, v0.START, END)
    return {"raw": raw, "latest": latest, "icp": read_icp(lake, icp, v0.START, END).to_pylist(),
            "by_key": by_key.to_pylist()}


def records(root: Path) -> dict[str, dict]:
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())
            for p in sorted(root.glob("_meta/*/*.json"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """A lake in today's format, its answers and its records; copied by each test."""
    root = tmp_path_factory.mktemp("v1") / "lake"
    lake = v0.build_lake(root)
    return root, answers(lake), records(root)


@pytest.fixture
def v0_lake(built, tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(built[0], root)
    v0.rewrite_as_v0(root)
    return root


def test_every_version_below_the_current_has_a_step():
    assert sorted(migrations.STEPS) == list(range(schema.FORMAT_VERSION))
    assert all(step.source == n for n, step in migrations.STEPS.items())


def test_a_version_0_lake_is_refused_until_migrated_then_answers_as_before(built, v0_lake, cli):
    _, before, v1_records = built
    with pytest.raises(LakeFormatError, match="older than 3; run `meterlake --lake .* migrate`"):
        Lake(v0_lake)
    assert all("sha256" not in f for r in records(v0_lake).values() if "run_id" in r for f in r.get("files") or [])

    result = cli("--lake", v0_lake, "migrate")
    assert result.code == 0, result.err
    assert "version 0 -> 3" in result.out and "records rewritten: 3" in result.out
    assert "1 -> 2: write the block file of every committed raw and output file" in result.out
    assert "2 -> 3: add attributes/" in result.out

    info = json.loads((v0_lake / "lake.json").read_text())
    assert info["version"] == 3 and [(m["from"], m["to"]) for m in info["migrations"]] == [(0, 1), (1, 2), (2, 3)]
    assert (v0_lake / "attributes").is_dir()
    # The checksums recomputed from the files are the ones the writer had recorded.
    assert records(v0_lake) == v1_records
    lake = Lake(v0_lake)
    assert answers(lake) == before
    report = check_lake(lake)
    assert report.ok and report.output_files == 6, report.summary()


def test_migrating_again_changes_nothing(v0_lake, cli):
    migrations.migrate(v0_lake)
    after = records(v0_lake), (v0_lake / "lake.json").read_text()
    result = migrations.migrate(v0_lake)
    assert result.steps == [] and "nothing to do" in result.summary()
    again = migrations.migrate(v0_lake, start=0)  # re-run the step on a lake that says 1
    assert again.steps and again.records_rewritten == 0 and again.version == 3
    assert (records(v0_lake), (v0_lake / "lake.json").read_text()) == after


def test_records_without_raw_checksums_get_them(built, v0_lake):
    v0.rewrite_as_v0(v0_lake, bare_raw_entries=True)
    assert migrations.migrate(v0_lake).records_rewritten == 3 + 2  # runs, and both ingests
    assert records(v0_lake) == built[2]


def test_a_step_stopped_part_way_is_finished_by_the_next_run(built, v0_lake, monkeypatch):
    real_replace = os.replace
    calls = []

    def dies_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process stops between two record renames
        real_replace(src, dst)

    monkeypatch.setattr(migrations.os, "replace", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        migrations.migrate(v0_lake)
    monkeypatch.setattr(migrations.os, "replace", real_replace)
    assert json.loads((v0_lake / "lake.json").read_text())["version"] == 0  # not committed
    assert not any(p.name != "runs" for p in (v0_lake / "_staging").iterdir())  # staging cleared
    assert migrations.migrate(v0_lake).records_rewritten == 2
    assert records(v0_lake) == built[2]


def test_a_damaged_lake_is_not_migrated(v0_lake):
    record = records(v0_lake)["_meta/runs/run-00000002.json"]
    (v0_lake / record["files"][0]["path"]).unlink()
    before = records(v0_lake)
    with pytest.raises(LakeFormatError, match="is missing; run `meterlake check`"):
        migrations.migrate(v0_lake)
    assert records(v0_lake) == before
    assert json.loads((v0_lake / "lake.json").read_text())["version"] == 0


def test_a_newer_lake_is_refused_untouched(v0_lake, cli):
    info = json.loads((v0_lake / "lake.json").read_text())
    (v0_lake / "lake.json").write_text(json.dumps(dict(info, version=schema.FORMAT_VERSION + 1)))
    before = (v0_lake / "lake.json").read_text(), records(v0_lake)
    with pytest.raises(LakeFormatError, match="newer than this meterlake understands"):
        Lake(v0_lake)
    result = cli("--lake", v0_lake, "migrate")
    assert result.code == 2 and "newer than this meterlake understands" in result.err
    assert ((v0_lake / "lake.json").read_text(), records(v0_lake)) == before


def test_dry_run_lists_the_steps_only(v0_lake, cli):
    result = cli("--lake", v0_lake, "migrate", "--dry-run", "--json")
    assert result.code == 0
    assert json.loads(result.out)["steps"] == [f"{n} -> {n + 1}: " + migrations.STEPS[n].summary for n in (0, 1, 2)]
    assert not (v0_lake / "_blocks").exists()
    assert json.loads((v0_lake / "lake.json").read_text())["version"] == 0
