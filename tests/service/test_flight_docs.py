"""The Flight recipes of docs/api.md run as written against a real HTTP and Flight server."""
from __future__ import annotations

import re

import pytest

from datalake.raw.bulk import read_bulk
from tests.conftest import REPO

from .flightserver import flight_lake, flight_server  # noqa: F401 - fixtures
from .server import serve


def recipes() -> list[str]:
    section = (REPO / "docs" / "api.md").read_text().split("## Arrow Flight and Flight SQL", 1)[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_there_are_the_three_recipes():
    assert [r.splitlines()[0].split(":")[0].split(" through")[0].split(" over")[0] for r in recipes()] == [
        "# pyarrow.flight", "# Polars", "# DuckDB"]


@pytest.mark.parametrize("index", range(3), ids=["pyarrow.flight", "polars", "duckdb"])
def test_a_recipe_runs(flight_lake, flight_server, index):
    with serve(flight_lake.root, flight_port=flight_server.port) as url:
        scope = {"FLIGHT": f"grpc://127.0.0.1:{flight_server.port}", "URL": url}
        exec(compile(recipes()[index], f"docs/api.md recipe {index + 1}", "exec"), scope)
    if index == 0:
        whole = read_bulk(flight_lake, "2018-06-01", "2018-06-03").reader().read_all()
        assert len(scope["tables"]) == 4 and scope["rows"] == whole.num_rows
    elif index == 1:
        assert scope["daily"].height == 3 and scope["daily"].columns == ["read_date", "kwh"]
    else:
        assert scope["per_icp"].num_rows == 40
