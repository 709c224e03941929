"""Access: every route of the app declares a scope, and each scope is allowed and refused
where it should be (parametrized over the app's own route table, so a new route without a
scope fails here); tokens are minted, stored as hashes and recorded on what they change; a
server without tokens serves loopback only and refuses a public bind."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from datalake.demo.generate import generate
from datalake.lake import Lake
from service.app import create_app
from service.auth import SCOPES, Token, TokenStore, hash_token, is_automatic_options, parse_token_list
from service.settings import Settings

from .lakefiles import lake_files
from .server import serve
from .test_errors import check_problem

SECRETS = {"reader": "read-secret", "writer": "write-secret", "operator": "admin-secret"}
SCOPE_OF = {"reader": "read", "writer": "write", "operator": "admin"}
CALLERS = [None, "bogus", "reader", "writer", "operator"]
# Values for path parameters: ids that exist nowhere, so an allowed write changes nothing.
PATH_VALUES = {"icp_id": "ABC123", "run_id": "run-00000099", "part": "1", "path": "nothing", "file_name": "x",
               "file_path": "nothing", "name": "nothing"}


def store() -> TokenStore:
    return TokenStore(Token(name, SCOPE_OF[name], hash_token(secret, "scrypt" if name == "operator" else "sha256"))
                      for name, secret in SECRETS.items())


def route_table() -> list[tuple[str, str, str | None]]:
    """(method, path template, declared scope) of every handler of the real app."""
    root = Path(tempfile.mkdtemp(prefix="meterlake-routes-"))
    app = create_app(Settings(lake=str(Lake.create(root / "lake").root)))
    return sorted({(method, route.path, handler.opt.get("scope"))
                   for route in app.routes for handler in route.route_handlers
                   if not is_automatic_options(handler) for method in handler.http_methods})


ROUTES = route_table()


def concrete(template: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", lambda m: PATH_VALUES[m[1]], template)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Lake]]:
    lake = Lake.create(tmp_path_factory.mktemp("auth") / "lake")
    generate(lake, icps=2, days=1, start=dt.date(2018, 6, 1), seed=3)
    with serve(lake.root, tokens=store()) as url:
        yield url, lake


def test_the_app_has_routes_of_every_kind() -> None:
    assert {scope for _, _, scope in ROUTES} == {"public", *SCOPES}
    assert len(ROUTES) >= 15


@pytest.mark.parametrize(("method", "template", "scope"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_each_scope_is_allowed_and_refused_on_every_route(secured: tuple[str, Lake], method: str, template: str,
                                                          scope: str | None) -> None:
    assert scope in ("public", *SCOPES), f"{method} {template} declares no scope: add **requires(...)"
    url, lake = secured
    before = lake_files(lake)
    for caller in CALLERS:
        headers = {"Authorization": f"Bearer {SECRETS.get(caller, caller)}"} if caller else {}
        r = httpx.request(method, url + concrete(template), headers=headers, timeout=30)
        if scope == "public":
            assert r.status_code not in (401, 403), (method, template, caller, r.text)
        elif caller not in SCOPE_OF:
            check_problem(r, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
        elif SCOPES.index(SCOPE_OF[caller]) < SCOPES.index(scope):
            p = check_problem(r, 403, "forbidden")
            assert caller in p["detail"] and scope in p["detail"]
        else:
            assert r.status_code not in (401, 403), (method, template, caller, r.text)
    assert lake_files(lake) == before


def test_openapi_declares_the_bearer_scheme_and_each_operation_scope(secured: tuple[str, Lake]) -> None:
    url, _ = secured
    doc = httpx.get(url + "/schema/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {**doc["components"]["securitySchemes"]["bearer"],
                                                              "type": "http", "scheme": "bearer"}
    for method, template, scope in ROUTES:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template)
        operation = doc["paths"].get(path, {}).get(method.lower())
        if operation is None:
            assert scope == "public", (method, template)  # only the schema viewers are left out
            continue
        if scope == "public":
            assert "security" not in operation and "401" not in operation["responses"], (method, path)
        else:
            assert operation["security"] == [{"bearer": [scope]}], (method, path)
            assert {"401", "403"} <= operation["responses"].keys(), (method, path)


def test_writes_record_and_log_the_token_name(secured: tuple[str, Lake], caplog: pytest.LogCaptureFixture) -> None:
    url, lake = secured
    auth = {"Authorization": f"Bearer {SECRETS['writer']}"}
    with caplog.at_level(logging.INFO, logger="meterlake.audit"):
        run = httpx.post(url + "/v1/runs", headers=auth, json={"start": "2018-06-01", "end": "2018-06-01",
                                                              "algorithm": "a", "version": "1"}).json()
        body = b"read_timestamp,interval_read,energy_flow_direction,icp_id\n2018-06-01 00:30:00+12,1.000,X,ZZ9\n"
        ingest = httpx.post(url + "/v1/reads", headers={**auth, "Content-Type": "text/csv"}, content=body).json()
        aborted = httpx.delete(url + f"/v1/runs/{run['run_id']}", headers=auth).json()
    assert run["created_by"] == "writer"
    assert aborted["status"] == "aborted"
    record = json.loads((lake.root / "_meta" / "ingests" / f"{ingest['ingest_id']}.json").read_text())
    assert record["actor"] == "writer"
    run_record = json.loads((lake.root / "_meta" / "runs" / f"{run['run_id']}.json").read_text())
    assert run_record["aborted_by"] == "writer"
    lines = [r.getMessage() for r in caplog.records if r.name == "meterlake.audit"]
    assert f"POST /v1/runs -> 201 by writer" in lines
    assert f"DELETE /v1/runs/{run['run_id']} -> 200 by writer" in lines
    assert any(line.startswith("POST /v1/reads -> 201 by writer") for line in lines)


def test_without_tokens_only_loopback_clients_are_served(fresh_lake: Lake) -> None:
    app = create_app(Settings(lake=str(fresh_lake.root)))
    with TestClient(app) as client:  # its client address is "testclient", not loopback
        check_problem(client.get("/v1/runs"), 403, "forbidden")
        assert client.get("/healthz").status_code == 200
    with serve(fresh_lake.root) as url:  # a real loopback client, no token needed
        assert httpx.get(url + "/v1/runs").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_serve_refuses_a_public_bind_without_tokens(cli, fresh_lake: Lake, host: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METERLAKE_TOKENS", raising=False)
    monkeypatch.delenv("METERLAKE_TOKENS_FILE", raising=False)
    result = cli("--lake", fresh_lake.root, "serve", "--host", host, "--port", "1")
    assert result.code == 2
    assert f"refusing to serve on {host} without tokens" in result.err and "meterlake token create" in result.err


def test_token_create_stores_only_a_hash_and_prints_the_token_once(cli, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    made = cli("token", "create", "algo", "--scope", "write", "--file", path)
    assert made.code == 0
    secret = made.out.strip()
    assert len(secret) >= 40 and secret not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    slow = cli("token", "create", "ops", "--scope", "admin", "--file", path, "--hash", "scrypt")
    tokens = TokenStore.from_env({"METERLAKE_TOKENS_FILE": str(path)})
    assert tokens.authenticate(secret).name == "algo"
    assert tokens.authenticate(slow.out.strip()).scope == "admin"
    assert tokens.authenticate(secret + "x") is None
    assert cli("token", "create", "algo", "--scope", "read", "--file", path).code == 2  # names are unique

    env_only = cli("token", "create", "viewer", "--scope", "read")
    entry = re.search(r"METERLAKE_TOKENS: (\S+)", env_only.err)[1]
    assert TokenStore(parse_token_list(entry)).authenticate(env_only.out.strip()).name == "viewer"


def test_serve_reads_tokens_from_the_environment(fresh_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERLAKE_LAKE", str(fresh_lake.root))
    monkeypatch.setenv("METERLAKE_TOKENS", f"ci:read:{hash_token('s3cret')}")
    settings = Settings.from_env()
    assert settings.tokens.authenticate("s3cret").name == "ci"
    monkeypatch.setenv("METERLAKE_TOKENS", "ci:superuser:sha256:00")
    with pytest.raises(ValueError, match="scope must be one of"):
        Settings.from_env()
