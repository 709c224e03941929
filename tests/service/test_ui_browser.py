"""The operator's page in a real headless Chromium (Debian's package, driven by Playwright with
``executable_path``; never a browser download), against a real lake under a real uvicorn server.

The first test runs in ``make test``; the ones marked ``browser`` in ``make test-browser``. They
are skipped only where no Chromium is installed (``make browser-install`` installs it), and
``METERLAKE_REQUIRE_BROWSER=1`` (set by ``make test-browser``) makes that a failure."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from datalake import runs
from datalake.raw.quality import reads_quality
from datalake.runs.diff import run_diff_by_date

from .uilake import DAYS, SECRETS, START, UiLake, plain

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    for candidate in (os.environ.get("METERLAKE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium()
    if path is None:
        reason = ("no browser found: Chromium is not installed at /usr/bin/chromium or on the PATH "
                  "(`make browser-install` installs Debian's chromium package)")
        if os.environ.get("METERLAKE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright  # the dev extra; it never downloads a browser here
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """A page in a fresh browser context, recording console errors (CSP violations among them)
    and every host the page asked something of."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).hostname)
                     if not r.url.startswith("data:") else None)

    def bars(self, chart: str) -> list[dict]:
        return self.page.eval_on_selector_all(
            f"#{chart} rect.bar", "els => els.map(e => Object.assign({}, ...Array.from(e.attributes).map("
            "a => ({[a.name]: a.value})), {box: e.getBoundingClientRect().toJSON()}))")

    def rows(self, table: str, *classes: str) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            f"#{table} tbody tr", "(rows, classes) => rows.map(r => classes.map("
            "c => r.querySelector('td.' + c).textContent))", list(classes))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser) -> Iterator[Tab]:
    opened = Tab(browser)
    try:
        yield opened
    finally:
        opened.close()


def session_cookies(tab: Tab) -> list[dict]:
    return [c for c in tab.context.cookies() if c["name"] == "meterlake_session"]


def test_in_a_browser_a_token_opens_the_page_and_it_shows_the_lakes_figures(tab: Tab, ui_lake: UiLake,
                                                                            ui_secured_url: str) -> None:
    page = tab.page
    page.goto(ui_secured_url + "/ui/")
    assert page.url == ui_secured_url + "/ui/login"  # no session: the login form
    page.fill("#token", SECRETS["reader"] + "-wrong")
    page.click("#login-form button")
    assert "that token is not valid" in page.inner_text("p.error") and not session_cookies(tab)
    assert tab.errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    tab.errors.clear()

    page.fill("#token", SECRETS["reader"])
    page.click("#login-form button")
    page.wait_for_url(ui_secured_url + "/ui/")
    [cookie] = session_cookies(tab)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert SECRETS["reader"] not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script on the page can read it
    assert page.inner_text("#user") == "reader"

    records = list(reversed(runs.list_runs(ui_lake.lake)))
    assert tab.rows("runs-table", "run", "status", "window", "stage") == [
        [r["run_id"], r["status"], f"{r['start']}..{r['end']}", "latest" if r["status"] != "open" else ""] for r in records]

    by_date = run_diff_by_date(ui_lake.lake, "run-00000002", "run-00000001").to_pylist()  # the default pair
    bars = tab.bars("diff-chart")
    assert [(b["data-date"], b["data-series"], Decimal(b["data-difference"])) for b in bars] == [
        (r["read_date"].isoformat(), r["buyer_seller"], r["difference"]) for r in by_date]

    ingests = list(reversed(ui_lake.lake.ingests()))
    assert [[plain(c) for c in row] for row in tab.rows("ingests-table", "ingest", "rows-read", "rows-revised",
                                                       "rows-rejected")] == [
        [r["ingest_id"], str(r["rows"]["read"]), str(r["rows"]["revised"]), str(r["rows"]["rejected"])]
        for r in ingests]

    report = reads_quality(ui_lake.lake, START, START + dt.timedelta(days=DAYS - 1)).to_pylist()
    quality = tab.bars("quality-chart")
    assert [(b["data-date"], b["data-series"], int(b["data-complete"]), int(b["data-icps"])) for b in quality] == [
        (r["read_date"].isoformat(), r["energy_flow_direction"], r["icps_complete"], r["icps"]) for r in report]
    assert all(b["box"]["height"] > 0 for b in quality)  # drawn: every date has complete ICPs
    assert tab.errors == [] and tab.hosts == {"127.0.0.1"}


@pytest.mark.browser
def test_choosing_two_runs_in_the_form_draws_their_diff_by_date(tab: Tab, ui_lake: UiLake, ui_open_url: str) -> None:
    page = tab.page
    page.goto(ui_open_url + "/ui/")
    page.select_option("#run", "run-00000004")  # retracted, over dates 3 and 4
    page.select_option("#against", "run-00000001")
    page.click("#diff-form button")
    page.wait_for_url("**/ui/?run=run-00000004&against=run-00000001*")
    assert "run-00000004 against run-00000001 over 2018-06-03..2018-06-04" in page.inner_text("#diff-headline")
    by_date = run_diff_by_date(ui_lake.lake, "run-00000004", "run-00000001").to_pylist()
    bars = tab.bars("diff-chart")
    assert [b["data-date"] for b in bars] == ["2018-06-03"] * 2 + ["2018-06-04"] * 2 and len(by_date) == 4
    assert [Decimal(b["data-difference"]) for b in bars] == [r["difference"] for r in by_date]
    axis = page.eval_on_selector("#diff-chart line.axis", "e => e.getBoundingClientRect().toJSON()")
    for bar in bars:  # a positive difference stands on the zero line, a negative one hangs from it
        box, value = bar["box"], Decimal(bar["data-difference"])
        if value > 0:
            assert box["y"] + box["height"] == pytest.approx(axis["y"], abs=1.0) and box["height"] > 0
        elif value < 0:
            assert box["y"] == pytest.approx(axis["y"], abs=1.0) and box["height"] > 0
    largest = max(bars, key=lambda b: abs(Decimal(b["data-difference"])))
    smallest = min(bars, key=lambda b: abs(Decimal(b["data-difference"])))
    assert largest["box"]["height"] >= smallest["box"]["height"]
    assert tab.errors == []


@pytest.mark.browser
def test_changing_the_completeness_window_keeps_the_chosen_runs(tab: Tab, ui_lake: UiLake, ui_open_url: str) -> None:
    page = tab.page
    page.goto(ui_open_url + "/ui/?run=run-00000002&against=run-00000001")
    page.fill("#start", "2018-06-02")
    page.fill("#end", "2018-06-03")
    page.click("#quality-form button")
    page.wait_for_url("**start=2018-06-02*")
    report = reads_quality(ui_lake.lake, "2018-06-02", "2018-06-03").to_pylist()
    bars = tab.bars("quality-chart")
    assert [(b["data-date"], b["data-series"], int(b["data-complete"])) for b in bars] == [
        (r["read_date"].isoformat(), r["energy_flow_direction"], r["icps_complete"]) for r in report]
    x, i = (next(b for b in bars if b["data-series"] == d and b["data-date"] == "2018-06-02") for d in ("X", "I"))
    assert x["box"]["height"] / i["box"]["height"] == pytest.approx(10 / 11, abs=0.01)  # 10 of 11, 3 of 3
    assert page.input_value("#run") == "run-00000002" and page.input_value("#against") == "run-00000001"
    tab.page.click("details:has(#quality-table) summary")
    assert tab.rows("quality-table", "date", "direction", "icps-complete") == [
        [r["read_date"].isoformat(), r["energy_flow_direction"], str(r["icps_complete"])] for r in report]


@pytest.mark.browser
def test_logging_out_ends_the_session_and_a_scrypt_token_logs_in(tab: Tab, ui_secured_url: str) -> None:
    page = tab.page
    page.goto(ui_secured_url + "/ui/login")
    page.fill("#token", SECRETS["operator"])  # stored as scrypt
    page.click("#login-form button")
    page.wait_for_url(ui_secured_url + "/ui/")
    assert page.inner_text("#user") == "operator" and session_cookies(tab)
    page.click("form.logout button")
    page.wait_for_url(ui_secured_url + "/ui/login")
    assert not session_cookies(tab)
    page.goto(ui_secured_url + "/ui/")
    assert page.url == ui_secured_url + "/ui/login"


@pytest.mark.browser
def test_the_page_loads_nothing_from_elsewhere_and_breaks_no_policy(tab: Tab, ui_open_url: str) -> None:
    response = tab.page.goto(ui_open_url + "/ui/")
    assert response.status == 200
    assert tab.page.evaluate("document.scripts.length") == 0
    sheet = tab.page.evaluate("getComputedStyle(document.querySelector('section')).backgroundColor")
    assert sheet == "rgb(255, 255, 255)"  # the stylesheet applied (CSP allows it: 'self')
    assert tab.errors == [] and tab.hosts == {"127.0.0.1"}
