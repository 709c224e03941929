"""What a request may ask, on every route of the API (the app's own route table): an
unknown query parameter is a 400 naming it, a format the endpoint cannot produce a 406;
ordinary clients (no Accept, */*, a browser's, Prometheus') are served as before."""
from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datalake.demo.generate import generate
from datalake.lake import Lake
from service.app import create_app
from service.auth import is_automatic_options
from service.settings import Settings

from .lakefiles import lake_files
from .server import serve
from .test_auth import concrete
from .test_errors import check_problem

R = {"start": "2018-06-01", "end": "2018-06-01"}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
PROMETHEUS = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def api_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the OpenAPI document describes."""
    root = Path(tempfile.mkdtemp(prefix="meterlake-routes-"))
    app = create_app(Settings(lake=str(Lake.create(root / "lake").root)))
    return sorted({(method, route.path) for route in app.routes for handler in route.route_handlers
                   if not is_automatic_options(handler) and handler.resolve_include_in_schema()
                   for method in handler.http_methods})


ROUTES = api_routes()
IDS = [f"{m} {p}" for m, p in ROUTES]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Lake]]:
    lake = Lake.create(tmp_path_factory.mktemp("admission") / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=3)
    with serve(lake.root) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, lake


def test_the_table_has_the_api_and_not_the_reference_pages() -> None:
    assert ("GET", "/v1/runs") in ROUTES and ("GET", "/metrics") in ROUTES and len(ROUTES) >= 13
    assert not any(path.startswith("/schema") for _, path in ROUTES)


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=IDS)
def test_an_unknown_query_parameter_is_a_400_naming_it(served, method: str, template: str) -> None:
    client, lake = served
    before = lake_files(lake)
    r = client.request(method, concrete(template), params={"colour": "blue"}, content=b"x")
    p = check_problem(r, 400, "invalid_argument", "colour")
    assert p["value"] == "blue" and "'colour'" in p["detail"]
    assert lake_files(lake) == before


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=IDS)
def test_an_unproducible_format_is_a_406(served, method: str, template: str) -> None:
    client, lake = served
    before = lake_files(lake)
    p = check_problem(client.request(method, concrete(template), headers={"Accept": "application/xml"}),
                      406, "not_acceptable", "accept")
    assert "application/xml" in p["detail"]
    tabular = "/icps/" in template or template in ("/v1/output", "/v1/reads/changes", "/v1/quality/reads") \
        or template.endswith(("/diff", "/diff/dates"))
    if not tabular:  # the tabular routes offer all three formats
        unoffered = "json" if (method, template) == ("GET", "/v1/reads") else "csv"
        check_problem(client.request(method, concrete(template), params={"format": unoffered}), 406,
                      "not_acceptable", "format")
    check_problem(client.request(method, concrete(template), params={"format": "xml"}), 400,
                  "invalid_argument", "format")
    assert lake_files(lake) == before


def test_a_misspelt_parameter_is_named_with_what_the_endpoint_takes(served) -> None:
    client, _ = served
    p = check_problem(client.get("/v1/icps/ABC123/reads", params={**R, "directon": "I"}), 400,
                      "invalid_argument", "directon")
    assert p["detail"] == ("unknown query parameter 'directon': GET /v1/icps/{icp_id}/reads takes "
                           "start, end, direction, as_of, fields, format")
    p = check_problem(client.get("/v1/runs", params={"statsu": "open", "limt": "1"}), 400, "invalid_argument",
                      "statsu")
    assert "'statsu', 'limt'" in p["detail"]


def test_format_and_accept_pick_what_the_endpoint_offers(served) -> None:
    client, _ = served
    assert client.get("/v1/runs", params={"format": "json"}).json() == {"items": [], "next_cursor": None}
    reads = "/v1/icps/ABC123/reads"
    for accept, media in [("text/csv", "text/csv"), ("application/json;q=0, text/csv;q=0.1", "text/csv"),
                          ("text/*", "text/csv"), ("text/csv, application/json", "text/csv"),
                          ("application/vnd.apache.arrow.stream;q=0.9, application/json", "application/json"),
                          ("application/*", "application/json")]:
        r = client.get(reads, params=R, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), (accept, r.headers)
    check_problem(client.get(reads, params=R, headers={"Accept": "application/json;q=0, text/csv;q=0"}), 406,
                  "not_acceptable", "accept")
    check_problem(client.get("/v1/reads", params=R, headers={"Accept": "application/json"}), 406, "not_acceptable")
    r = client.get("/v1/reads", params=R, headers={"Accept": "text/csv;q=0.5, application/json"})
    assert r.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize("accept", [None, "", "*/*", BROWSER, "application/json, text/plain, */*"])
def test_ordinary_clients_are_served(served, accept: str | None) -> None:
    client, _ = served
    headers = {} if accept is None else {"Accept": accept}
    for path, params, media in [("/v1/icps/ABC123/reads", R, "application/json"),
                                ("/v1/reads", R, "application/vnd.apache.arrow.stream"),
                                ("/v1/runs", {}, "application/json"), ("/healthz", {}, "application/json"),
                                ("/readyz", {}, "application/json"), ("/metrics", {}, "text/plain"),
                                ("/schema/openapi.json", {}, "application/vnd.oai.openapi+json"),
                                ("/schema", {}, "text/html"), ("/schema/swagger", {}, "text/html")]:
        r = client.get(path, params=params, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), (path, accept, r.text[:200])


def test_prometheus_gets_its_text_format(served) -> None:
    client, _ = served
    r = client.get("/metrics", headers={"Accept": PROMETHEUS})
    assert r.status_code == 200 and re.search(r"^meterlake_http_requests_total\{", r.text, re.M)
    check_problem(client.get("/metrics", headers={"Accept": "application/json"}), 406, "not_acceptable", "accept")


def test_the_openapi_document_lists_both_refusals_on_every_operation(served) -> None:
    client, _ = served
    paths = client.get("/schema/openapi.json").json()["paths"]
    for method, template in ROUTES:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template)
        responses = paths[path][method.lower()]["responses"]
        assert {"400", "406"} <= responses.keys(), (method, path)
