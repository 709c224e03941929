"""`meterlake runs abort-stale`: an open run nobody has touched for longer than the given
duration (its publisher died) is aborted and its parts removed; a recent one is left open."""
from __future__ import annotations

import datetime as dt

from datalake import runs
from datalake.lake import Lake
from datalake.storage.files import write_json_atomic
from tests.factories.output import days, interval_rows, write_csv

D = dt.date(2018, 6, 1)


def test_abort_stale_aborts_only_runs_idle_for_longer(lake: Lake, cli, tmp_path) -> None:
    stale = runs.create_run(lake, start=D, end=D, algorithm="matcher", version="1")["run_id"]
    runs.upload_part(lake, stale, 1, write_csv(tmp_path / "p.csv", interval_rows(["0000012345TR9A1"], days(D, 1))))
    fresh = runs.create_run(lake, start=D, end=D, algorithm="matcher", version="2")["run_id"]
    record = runs.get_run(lake, stale)
    ten_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat()
    record["created_at"] = record["parts"][0]["uploaded_at"] = ten_days_ago  # a publisher that died 10 days ago
    write_json_atomic(lake.layout.run_record(stale), record)
    assert lake.layout.run_parts_dir(stale).exists()

    dry = cli("--lake", lake.root, "runs", "abort-stale", "--older-than", "7d", "--dry-run")
    assert dry.code == 0 and f"{stale}" in dry.out and "would abort" in dry.out and fresh not in dry.out
    assert runs.get_run(lake, stale)["status"] == "open"

    done = cli("--lake", lake.root, "runs", "abort-stale", "--older-than", "7d")
    assert done.code == 0 and stale in done.out
    assert runs.get_run(lake, stale)["status"] == "aborted"
    assert runs.get_run(lake, fresh)["status"] == "open"
    with lake.write_lock():  # clean-up under the lock removes the aborted run's parts
        pass
    assert not lake.layout.run_parts_dir(stale).exists()

    assert cli("--lake", lake.root, "runs", "abort-stale", "--older-than", "soon").code != 0
