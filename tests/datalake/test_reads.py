"""The engine's one-ICP read path, through the CLI and the function, and a property test of
revisions: after any sequence of deliveries, every key reads its last delivered value."""
from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from decimal import Decimal

import pyarrow.csv as pcsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datalake.errors import InvalidArgumentError, NotFoundError
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from datalake.raw.reads import read_icp
from tests.conftest import REPO
from tests.factories.raw import day_rows, write_csv


def test_reads_command_prints_csv(lake, cli, tmp_path):
    write_csv(tmp_path / "a.csv", day_rows("ICP1", dt.date(2018, 6, 14)) + day_rows("ICP1", dt.date(2018, 6, 14), "I"))
    assert cli("--lake", lake.root, "ingest", tmp_path / "a.csv").code == 0
    out = cli("--lake", lake.root, "reads", "ICP1", "--start", "2018-06-14", "--end", "2018-06-14", "--direction", "I")
    table = pcsv.read_csv(io.BytesIO(out.out.encode()))
    assert table.num_rows == 48 and set(table["energy_flow_direction"].to_pylist()) == {"I"}


def test_range_filters_dates_and_rejects_bad_arguments(lake, tmp_path):
    rows = [r for d in (13, 14, 15) for r in day_rows("ICP1", dt.date(2018, 6, d))]
    ingest_file(lake, write_csv(tmp_path / "a.csv", rows))
    assert read_icp(lake, "ICP1", "2018-06-14", "2018-06-15").num_rows == 96
    assert read_icp(lake, "NOBODY", "2018-06-14", "2018-06-15").num_rows == 0
    with pytest.raises(InvalidArgumentError, match="end 2018-06-13 is before start"):
        read_icp(lake, "ICP1", "2018-06-14", "2018-06-13")
    with pytest.raises(InvalidArgumentError, match="icp_id must be"):
        read_icp(lake, "../etc", "2018-06-14", "2018-06-15")
    with pytest.raises(InvalidArgumentError, match="as_of must be an ingest id"):
        read_icp(lake, "ICP1", "2018-06-14", "2018-06-15", as_of="1; drop table x")
    with pytest.raises(NotFoundError):
        read_icp(lake, "ICP1", "2018-06-14", "2018-06-15", as_of="ing-00000099")


def test_console_script_runs_quietly_without_a_terminal(tmp_path):
    src = write_csv(tmp_path / "a.csv", day_rows("ICP1", dt.date(2018, 6, 14)))
    lake = tmp_path / "lake"
    done = subprocess.run([sys.executable, "-m", "cli.main", "--lake", lake, "init"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([str(REPO / ".venv" / "bin" / "meterlake") if (REPO / ".venv/bin/meterlake").exists()
                           else "meterlake", "--lake", lake, "ingest", src], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""                      # no progress bar when not a terminal
    assert done.stdout.count("\n") == 1 and "48 new" in done.stdout


VALUES = st.integers(min_value=0, max_value=5000)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=st.lists(st.dictionaries(st.integers(0, 47), VALUES, min_size=1, max_size=48),
                           min_size=1, max_size=4))
def test_latest_value_wins_and_as_of_replays_history(tmp_path_factory, deliveries):
    lake = Lake.create(tmp_path_factory.mktemp("prop") / "lake")
    day = dt.date(2018, 6, 14)
    template = day_rows("ICP1", day)
    expected: dict[int, Decimal] = {}
    snapshots = []
    delivered: set[bytes] = set()
    for n, delivery in enumerate(deliveries):
        rows = [(template[p][0], f"{v / 1000:.3f}", "X", "ICP1") for p, v in sorted(delivery.items())]
        path = write_csv(lake.root.parent / f"d{n}.csv", rows)
        result = ingest_file(lake, path)
        if path.read_bytes() in delivered:  # content already ingested: a no-op by definition
            assert result.status == "noop" and "content already ingested" in result.reason
            continue
        delivered.add(path.read_bytes())
        changed = {p: Decimal(v) / 1000 for p, v in delivery.items() if expected.get(p) != Decimal(v) / 1000}
        assert result.rows_new + result.rows_revised == len(changed)
        expected.update(changed)
        if result.ingest_id:
            snapshots.append((result.ingest_id, dict(expected)))
    got = read_icp(lake, "ICP1", day, day)
    assert dict(zip([p - 1 for p in got["trading_period"].to_pylist()], got["interval_read"].to_pylist())) == expected
    for ingest, state in snapshots:
        past = read_icp(lake, "ICP1", day, day, as_of=ingest)
        assert dict(zip([p - 1 for p in past["trading_period"].to_pylist()], past["interval_read"].to_pylist())) == state
