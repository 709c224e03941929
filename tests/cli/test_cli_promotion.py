"""`meterlake runs publish --stage candidate`, `runs promote` and `runs alias set|list|delete`
on a real lake: what they print, their exit statuses, and the records they leave."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from datalake import runs
from datalake.demo.generate import generate
from datalake.lake import Lake
from tests.conftest import run_meterlake
from tests.factories.output import days, interval_rows, write_csv
from tests.service.conftest import lake_icps

START = dt.date(2018, 6, 1)
WINDOW = ("--start", "2018-06-01", "--end", "2018-06-02")


def make_lake(tmp_path: Path) -> tuple[Lake, list[str]]:
    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=6, days=2, start=START, seed=8)
    return lake, lake_icps(lake)


def output(tmp_path: Path, icps: list[str], seed: int) -> Path:
    return write_csv(tmp_path / f"out-{seed}.csv", interval_rows(icps, days(START, 2), seed=seed))


def test_candidate_publish_promote_and_alias(cli, tmp_path: Path) -> None:
    lake, icps = make_lake(tmp_path)
    assert cli("--lake", lake.root, "runs", "import", output(tmp_path, icps, 1), *WINDOW).code == 0
    made = cli("--lake", lake.root, "runs", "create", *WINDOW)
    assert made.code == 0
    assert cli("--lake", lake.root, "runs", "upload", "run-00000002", output(tmp_path, icps, 2)).code == 0
    published = cli("--lake", lake.root, "runs", "publish", "run-00000002", "--stage", "candidate")
    assert published.code == 0 and published.out.startswith("run-00000002  candidate  2018-06-01..2018-06-02")
    assert runs.get_run(lake, "run-00000002")["publish_seq"] is None
    listed = cli("--lake", lake.root, "runs", "list").out.splitlines()
    assert [line.split()[1] for line in listed] == ["published", "candidate"]
    assert "  stage:       candidate" in cli("--lake", lake.root, "runs", "show", "run-00000002").out

    alias = cli("--lake", lake.root, "runs", "alias", "set", "production", "run-00000001")
    assert alias.code == 0 and alias.out.startswith("production  run-00000001  set at ") and "by cli" in alias.out
    promoted = cli("--lake", lake.root, "runs", "promote", "run-00000002", "--alias", "production")
    assert promoted.code == 0, promoted.err
    assert promoted.out.splitlines()[0].startswith("run-00000002  published")
    assert "publish_seq 2; alias production -> run-00000002" in promoted.out
    again = cli("--lake", lake.root, "runs", "promote", "run-00000002")
    assert again.code == 2 and "not a candidate, it answers latest already (publish_seq 2)" in again.err

    history = cli("--lake", lake.root, "runs", "alias", "list", "--history").out.splitlines()
    assert history[0].startswith("production  run-00000002  set at ") and history[1].startswith("  was run-00000001")
    record = json.loads(cli("--lake", lake.root, "runs", "alias", "list", "--json").out)
    assert record["history"][0]["run_id"] == "run-00000001" and record["set_by"] == "cli"
    shown = cli("--lake", lake.root, "runs", "show", "alias:production")
    assert shown.code == 0 and shown.out.startswith("run-00000002  published") and "  promoted:" in shown.out
    assert cli("--lake", lake.root, "runs", "show", "alias:staging").code == 2

    deleted = cli("--lake", lake.root, "runs", "alias", "delete", "production", "--json")
    assert deleted.code == 0 and json.loads(deleted.out)["run_id"] is None
    assert cli("--lake", lake.root, "runs", "alias", "list").out == ""
    gone = cli("--lake", lake.root, "runs", "alias", "delete", "production")
    assert gone.code == 2 and "no alias production in this lake (deleted at" in gone.err
    bad = cli("--lake", lake.root, "runs", "alias", "set", "Production", "run-00000001")
    assert bad.code == 2 and "alias name" in bad.err
    assert cli("--lake", lake.root, "check").code == 0


def test_promote_exits_3_while_checks_fail_and_force_promotes(cli, tmp_path: Path) -> None:
    lake, icps = make_lake(tmp_path)
    partial = cli("--lake", lake.root, "runs", "import", output(tmp_path, icps[:2], 3), *WINDOW,
                  "--allow-partial", "--stage", "candidate")
    assert partial.code == 0 and partial.out.startswith("run-00000001  candidate")
    refused = cli("--lake", lake.root, "runs", "promote", "run-00000001", "--alias", "production")
    assert refused.code == 3 and "not promoted: 1 check(s) fail: missing_icps" in refused.err
    assert runs.list_aliases(lake) == [] and runs.get_run(lake, "run-00000001")["stage"] == "candidate"
    forced = cli("--lake", lake.root, "runs", "promote", "run-00000001", "--force", "--json")
    record = json.loads(forced.out)
    assert forced.code == 0 and (record["stage"], record["publish_seq"], record["promoted_forced"]) == (
        "latest", 1, True)


def test_the_commands_as_a_separate_process(tmp_path: Path) -> None:
    lake, icps = make_lake(tmp_path)
    done = run_meterlake("--lake", lake.root, "runs", "import", output(tmp_path, icps, 4), *WINDOW,
                         "--stage", "candidate", timeout=120)
    assert done.returncode == 0, done.stderr
    done = run_meterlake("--lake", lake.root, "runs", "promote", "run-00000001", "--alias", "production", timeout=120)
    assert done.returncode == 0, done.stderr
    done = run_meterlake("--lake", lake.root, "runs", "alias", "list", timeout=120)
    assert done.stdout.startswith("production  run-00000001  set at ")
