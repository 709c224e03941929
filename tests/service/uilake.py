"""The lake the tests of the operator's page (/ui/) read, the servers over it, and a parser of
the page's tables and charts (its fixtures are imported by conftest.py)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from datalake import runs
from datalake.demo.runs import demo_runs
from datalake.demo.generate import generate
from datalake.raw.ingest import ingest_file
from datalake.lake import Lake
from service.auth import Token, TokenStore, hash_token
from tests.factories.output import interval_rows, publish_rows
from tests.factories.raw import day_rows, write_csv

from .server import serve

START = dt.date(2018, 6, 1)
DAYS = 4
SECRETS = {"reader": "ui-read-secret", "operator": "ui-admin-secret"}
NEW_ICP = "NEWICP0001"
HALF_DAY = 20  # the reads NEW_ICP gets on the second date: it is short on every date


@dataclass(frozen=True)
class UiLake:
    """The lake and what was put in it: ICPs, the ingests with rejects and revisions, runs
    of every status (1, 2 over the whole window; 3 open; 4 over dates 3-4, retracted)."""

    lake: Lake
    icps: list[str]
    rejects_ingest: str
    revision_ingest: str
    revised: int


def tokens() -> TokenStore:
    return TokenStore([Token("reader", "read", hash_token(SECRETS["reader"])),
                       Token("operator", "admin", hash_token(SECRETS["operator"], "scrypt"))])


@pytest.fixture(scope="session")
def ui_lake(tmp_path_factory: pytest.TempPathFactory) -> UiLake:
    from .conftest import lake_icps  # conftest imports these fixtures

    root = tmp_path_factory.mktemp("ui")
    lake = Lake.create(root / "lake")
    generate(lake, icps=10, days=DAYS, start=START, seed=31)
    icps = lake_icps(lake)
    second = START + dt.timedelta(days=1)
    rows = day_rows(NEW_ICP, second, seed=2)[:HALF_DAY] + [("2018-06-02 10:00:00+12", "1.000", "Z", "BADROW1")]
    rejected = ingest_file(lake, write_csv(root / "partial.csv", rows), on_error="quarantine")
    revision = day_rows(icps[0], START + dt.timedelta(days=2), seed=99)
    revised = ingest_file(lake, write_csv(root / "revision.csv", revision))
    demo_runs(lake, count=2, seed=8)
    runs.create_run(lake, start=START, end=START, algorithm="ui-test", version="open")
    third = START + dt.timedelta(days=2)
    shifted = publish_rows(lake, root, interval_rows(icps, [third, third + dt.timedelta(days=1)], seed=4),
                           third, third + dt.timedelta(days=1), allow_partial=True)
    runs.retract_run(lake, shifted["run_id"])
    return UiLake(lake, icps, rejected.ingest_id, revised.ingest_id, revised.rows_revised)


@pytest.fixture(scope="session")
def ui_open_url(ui_lake: UiLake) -> Iterator[str]:
    """The app without tokens, on loopback: the page is open."""
    with serve(ui_lake.lake.root) as url:
        yield url


@pytest.fixture(scope="session")
def ui_secured_url(ui_lake: UiLake) -> Iterator[str]:
    """The app with tokens: the page needs a session."""
    with serve(ui_lake.lake.root, tokens=tokens()) as url:
        yield url


class Page(HTMLParser):
    """The page's tables (rows of ``{cell class: text}`` with the row's attributes under
    ``"@"``) and chart bars (each ``<rect class="bar">``'s attributes), by id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[dict]] = {}
        self.bars: dict[str, list[dict]] = {}
        self._table: str | None = None
        self._chart: str | None = None
        self._row: dict | None = None
        self._cell: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
            self.tables.setdefault(self._table, [])
        elif tag == "svg" and "chart" in (a.get("class") or ""):
            self._chart = a.get("id")
            self.bars.setdefault(self._chart, [])
        elif tag == "tr" and self._table and any(k.startswith("data-") for k in a):
            self._row = {"@": a}
        elif tag == "td" and self._row is not None:
            self._cell = (a.get("class") or "").split(" ")[0]
            self._row[self._cell] = ""
        elif tag == "rect" and self._chart and a.get("class") == "bar":
            self.bars[self._chart].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "svg":
            self._chart = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self._row[self._cell] += data


def plain(text: str) -> str:
    """A figure as shown, without its thousands separators."""
    return text.replace(",", "")
