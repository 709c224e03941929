"""The operator's page over HTTP (no browser): its tables and charts against the engine calls
the JSON API makes (and against what the lake was given), the login that exchanges a token for
an HttpOnly session cookie, and the refusals; a real lake under a real uvicorn server."""
from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal

import httpx
import pytest
from litestar.testing import TestClient

from datalake import runs
from datalake.raw.quality import reads_quality
from datalake.runs.diff import run_diff, run_diff_by_date
from service.app import create_app
from service.auth import Token, TokenStore, hash_token
from service.settings import Settings
from service.ui.pages import runs_section
from service.ui.session import COOKIE, Sessions

from .server import serve
from .uilake import DAYS, SECRETS, START, Page, UiLake, plain, tokens

HOST = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def page(ui_open_url: str) -> Page:
    r = httpx.get(ui_open_url + "/ui/", timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return Page(r.text)


def test_runs_table_lists_every_run_with_status_window_stage_and_aliases(page: Page, ui_lake: UiLake) -> None:
    rows = page.tables["runs-table"]
    records = runs.list_runs(ui_lake.lake)
    assert [r["run"] for r in rows] == [r["run_id"] for r in reversed(records)] == [
        "run-00000004", "run-00000003", "run-00000002", "run-00000001"]
    shown = {r["run"]: (r["status"], r["window"], r["stage"], r["aliases"]) for r in rows}
    assert shown == {"run-00000001": ("published", "2018-06-01..2018-06-04", "latest", ""),
                     "run-00000002": ("published", "2018-06-01..2018-06-04", "latest", ""),
                     "run-00000003": ("open", "2018-06-01..2018-06-01", "", ""),
                     "run-00000004": ("retracted", "2018-06-03..2018-06-04", "latest", "")}
    by_id = {r["run_id"]: r for r in records}
    assert all(plain(r["rows"]) == str(by_id[r["run"]]["rows"]) for r in rows)


def test_a_candidate_shows_its_stage_and_the_aliases_that_name_it_escaped() -> None:
    record = {"run_id": "run-00000007", "status": "published", "start": "2018-06-01", "end": "2018-06-02",
              "stage": "candidate", "rows": 10}
    aliases = [{"name": "production", "run_id": "run-00000007"}, {"name": "<b>x</b>", "run_id": "run-00000007"},
               {"name": "other", "run_id": "run-00000001"}]
    rows = Page(runs_section([record], aliases)).tables["runs-table"]
    assert rows[0]["stage"] == "candidate" and rows[0]["aliases"] == "production<b>x</b>"
    html = runs_section([record], aliases)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "other" not in html


def test_the_diff_chart_has_a_bar_per_date_and_side_with_run_diff_by_date_figures(
        page: Page, ui_lake: UiLake, ui_open_url: str) -> None:
    # The default pair: the two runs published last that are still published (not run 4).
    by_date = run_diff_by_date(ui_lake.lake, "run-00000002", "run-00000001").to_pylist()
    bars = page.bars["diff-chart"]
    assert len(bars) == len(by_date) == DAYS * 2  # every date, buyer and seller
    assert [(b["data-date"], b["data-series"], Decimal(b["data-difference"])) for b in bars] == [
        (r["read_date"].isoformat(), r["buyer_seller"], r["difference"]) for r in by_date]
    assert any(Decimal(b["data-difference"]) != 0 for b in bars)  # the demo runs differ
    assert all(Decimal(b["data-run-total"]) - Decimal(b["data-against-total"]) == Decimal(b["data-difference"])
               for b in bars)
    sides = run_diff(ui_lake.lake, "run-00000002", "run-00000001").sides.to_pylist()
    shown = {r["side"]: r for r in page.tables["diff-sides"]}
    for side in sides:
        assert Decimal(plain(shown[side["buyer_seller"]]["difference"])) == side["difference"]
        assert sum(Decimal(b["data-difference"]) for b in bars if b["data-series"] == side["buyer_seller"]) \
            == side["difference"]
    api = httpx.get(ui_open_url + "/v1/runs/run-00000002/diff/dates", params={"against": "run-00000001"}).json()
    assert [(i["read_date"], i["buyer_seller"], i["difference"]) for i in api["items"]] == [
        (b["data-date"], b["data-series"], b["data-difference"]) for b in bars]


def test_any_two_runs_can_be_chosen_and_a_refused_pair_leaves_the_rest_of_the_page(
        ui_lake: UiLake, ui_open_url: str) -> None:
    r = httpx.get(ui_open_url + "/ui/", params={"run": "run-00000004", "against": "run-00000002"})
    chosen = Page(r.text)
    by_date = run_diff_by_date(ui_lake.lake, "run-00000004", "run-00000002").to_pylist()
    bars = chosen.bars["diff-chart"]
    assert [b["data-date"] for b in bars] == ["2018-06-03"] * 2 + ["2018-06-04"] * 2  # the dates both cover
    assert [Decimal(b["data-difference"]) for b in bars] == [r["difference"] for r in by_date]
    assert "over 2018-06-03..2018-06-04" in r.text
    assert '<option value="run-00000004" selected>' in r.text and '<option value="run-00000002" selected>' in r.text

    refused = httpx.get(ui_open_url + "/ui/", params={"run": "run-00000003", "against": "run-00000002"})
    assert refused.status_code == 200
    assert "run run-00000003 is open: only published runs can be read" in refused.text
    assert "diff-chart" not in refused.text and Page(refused.text).tables["ingests-table"]


def test_ingests_table_shows_rows_revisions_and_rejects_of_each_ingest_record(page: Page, ui_lake: UiLake) -> None:
    rows = {r["ingest"]: r for r in page.tables["ingests-table"]}
    records = ui_lake.lake.ingests()
    assert list(rows) == [r["ingest_id"] for r in reversed(records)]
    for record in records:
        shown = rows[record["ingest_id"]]
        for key in ("read", "new", "revised", "rejected", "stored"):
            assert plain(shown[f"rows-{key}"]) == str(record["rows"][key]), (record["ingest_id"], key)
        assert shown["source"] == record["source"]["name"]
    assert plain(rows[ui_lake.rejects_ingest]["rows-rejected"]) == "1"
    assert rows[ui_lake.rejects_ingest]["rejects-file"].startswith("_rejects/")
    assert plain(rows[ui_lake.revision_ingest]["rows-revised"]) == str(ui_lake.revised) == "48"


def test_completeness_chart_is_the_share_of_icps_complete_of_reads_quality(page: Page, ui_lake: UiLake,
                                                                          ui_open_url: str) -> None:
    end = START + dt.timedelta(days=DAYS - 1)
    report = reads_quality(ui_lake.lake, START, end).to_pylist()
    bars = page.bars["quality-chart"]
    assert [(b["data-date"], b["data-series"], int(b["data-complete"]), int(b["data-icps"])) for b in bars] == [
        (r["read_date"].isoformat(), r["energy_flow_direction"], r["icps_complete"], r["icps"]) for r in report]
    x = [b for b in bars if b["data-series"] == "X"]
    assert len(x) == DAYS and all((b["data-complete"], b["data-icps"]) == ("10", "11") for b in x)  # NEWICP short
    heights = {b["data-series"]: float(b["height"]) for b in bars if b["data-date"] == START.isoformat()}
    assert heights["X"] == pytest.approx(heights["I"] * 10 / 11, abs=0.2)  # I: 3 of 3 complete
    narrow = Page(httpx.get(ui_open_url + "/ui/", params={"start": "2018-06-02", "end": "2018-06-02"}).text)
    assert [(b["data-date"], b["data-series"]) for b in narrow.bars["quality-chart"]] == [
        ("2018-06-02", "X"), ("2018-06-02", "I")]
    wrong = httpx.get(ui_open_url + "/ui/", params={"start": "2018-06-04", "end": "2018-06-01"})
    assert wrong.status_code == 200 and 'class="error"' in wrong.text and "quality-chart" not in wrong.text


def test_the_page_names_no_other_host_runs_no_script_and_sends_its_headers(ui_open_url: str) -> None:
    r = httpx.get(ui_open_url + "/ui/")
    assert not HOST.findall(r.text.replace("http://www.w3.org/2000/svg", "")) and "<script" not in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert "no tokens configured: open to loopback clients" in r.text and "Log out" not in r.text
    css = httpx.get(ui_open_url + "/ui/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and "table" in css.text
    assert httpx.get(ui_open_url + "/ui/login", follow_redirects=False).headers["location"] == "/ui/"
    assert "/ui" not in httpx.get(ui_open_url + "/schema/openapi.json").json()["paths"]


# -- login -----------------------------------------------------------------------------------

def login(url: str, secret: str, **headers: str) -> httpx.Response:
    return httpx.post(url + "/ui/login", data={"token": secret}, headers=headers, follow_redirects=False)


def test_without_a_session_the_page_sends_the_browser_to_the_login_form(ui_secured_url: str) -> None:
    r = httpx.get(ui_secured_url + "/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    form = httpx.get(ui_secured_url + "/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text and 'type="password"' in form.text
    bearer = httpx.get(ui_secured_url + "/ui/", headers={"Authorization": f"Bearer {SECRETS['reader']}"},
                       follow_redirects=False)
    assert bearer.status_code == 303  # the pages take the session cookie, the API the bearer token


def test_a_valid_token_gets_an_httponly_strict_session_cookie_that_opens_the_page(ui_secured_url: str) -> None:
    r = login(ui_secured_url, SECRETS["reader"])
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    header = r.headers["set-cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes and "secure" not in attributes  # plain HTTP
    assert "samesite=strict" in header.lower() and "path=/ui" in header.lower()
    value = r.cookies[COOKIE]
    assert SECRETS["reader"] not in value and hash_token(SECRETS["reader"])[7:] not in value
    page = httpx.get(ui_secured_url + "/ui/", cookies={COOKIE: value})
    assert page.status_code == 200 and '<strong id="user">reader</strong>' in page.text
    assert Page(page.text).tables["runs-table"] and 'action="/ui/logout"' in page.text
    api = httpx.get(ui_secured_url + "/v1/runs", cookies={COOKIE: value})
    assert api.status_code == 401  # the cookie opens the pages only

    slow = login(ui_secured_url, SECRETS["operator"])  # a token stored as scrypt
    assert slow.status_code == 303 and COOKIE in slow.cookies
    out = httpx.post(ui_secured_url + "/ui/logout", cookies={COOKIE: value}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert re.search(rf'{COOKIE}="?"?;.*max-age=0', out.headers["set-cookie"], re.I)


def test_a_wrong_token_or_a_foreign_form_is_refused_without_a_cookie(ui_secured_url: str) -> None:
    for secret, status, message in ((SECRETS["reader"] + "x", 401, "that token is not valid"),
                                    ("", 400, "enter a token")):
        r = login(ui_secured_url, secret)
        assert r.status_code == status and message in r.text and "set-cookie" not in r.headers
    foreign = login(ui_secured_url, SECRETS["reader"], Origin="http://elsewhere.example")
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    host = ui_secured_url.removeprefix("http://")
    assert login(ui_secured_url, SECRETS["reader"], Origin=f"http://{host}").status_code == 303


def test_a_forged_altered_or_expired_cookie_opens_nothing(ui_secured_url: str) -> None:
    good = login(ui_secured_url, SECRETS["reader"]).cookies[COOKIE]
    payload, mac = good.split(".")
    other = Sessions(b"k" * 32).issue(Token("reader", "read", hash_token(SECRETS["reader"])))  # another key
    for value in (f"{payload}.{mac[:-2]}AA", f"{payload}x.{mac}", other, "nonsense", ""):
        r = httpx.get(ui_secured_url + "/ui/", cookies={COOKIE: value}, follow_redirects=False)
        assert r.status_code == 303, value

    sessions, store = Sessions(b"s" * 32, lifetime_s=60), tokens()
    reader = store.tokens[0]
    value = sessions.issue(reader, now=time.time())
    assert sessions.verify(value, store) == reader
    assert sessions.verify(value, store, now=time.time() + 61) is None  # expired
    assert sessions.verify(value, TokenStore([Token("reader", "read", hash_token("rotated"))])) is None
    assert sessions.verify(value, TokenStore([Token("someone", "read", hash_token("x"))])) is None


def test_without_tokens_only_loopback_clients_see_the_page(ui_lake: UiLake) -> None:
    app = create_app(Settings(lake=str(ui_lake.lake.root)))
    with TestClient(app) as client:  # its client address is "testclient", not loopback
        r = client.get("/ui/", follow_redirects=False)
        assert r.status_code == 403 and "only loopback clients" in r.text
        assert r.headers["content-type"].startswith("text/html")


def test_servers_sharing_a_session_key_accept_each_others_sessions(ui_lake: UiLake,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """As `serve --workers N` runs them: one key from the environment for every worker."""
    monkeypatch.setenv("METERLAKE_SESSION_KEY", "ab" * 32)
    with serve(ui_lake.lake.root, tokens=tokens()) as one, serve(ui_lake.lake.root, tokens=tokens()) as two:
        cookie = login(one, SECRETS["reader"]).cookies[COOKIE]
        assert httpx.get(two + "/ui/", cookies={COOKIE: cookie}).status_code == 200
    monkeypatch.setenv("METERLAKE_SESSION_KEY", "cd" * 32)
    with serve(ui_lake.lake.root, tokens=tokens()) as other:
        assert httpx.get(other + "/ui/", cookies={COOKIE: cookie}, follow_redirects=False).status_code == 303


def test_serve_refuses_a_malformed_session_key(cli, fresh_lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERLAKE_SESSION_KEY", "abcd")
    result = cli("--lake", fresh_lake.root, "serve", "--port", "1", "--flight-port", "0")
    assert result.code == 2 and "METERLAKE_SESSION_KEY must be at least 32 bytes" in result.err
