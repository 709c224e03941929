"""Health, readiness, metrics and the OpenAPI document."""
from __future__ import annotations

import httpx

PATHS = {"/healthz", "/readyz", "/metrics", "/v1/reads", "/v1/icps/{icp_id}/reads", "/v1/runs", "/v1/runs/{run_id}",
         "/v1/runs/{run_id}/parts/{part}", "/v1/runs/{run_id}/publish", "/v1/runs/{run_id}/retract",
         "/v1/icps/{icp_id}/output/summary", "/v1/output"}


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready", "format_version": 3, "head_ingest": "ing-00000002"}


def test_metrics_count_requests_and_rows_by_route(http: httpx.Client) -> None:
    http.get("/v1/icps/NOSUCH/reads", params={"start": "2018-06-01", "end": "2018-06-01"})
    http.get("/v1/reads", params={"start": "2018-06-01", "end": "2018-06-01", "shard": "0/8"})
    r = http.get("/metrics")
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"  # the charset once
    text = r.text
    assert 'meterlake_http_requests_total{route="/v1/icps/{icp_id}/reads",method="GET",status="200"}' in text
    assert 'meterlake_http_request_duration_seconds_bucket{route="/v1/reads",le="+Inf"}' in text
    assert 'meterlake_rows_served_total{route="/v1/reads",format="arrow"}' in text


def test_openapi_documents_every_endpoint_format_and_problem(http: httpx.Client) -> None:
    spec = http.get("/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert PATHS <= set(spec["paths"])
    reads = spec["paths"]["/v1/icps/{icp_id}/reads"]["get"]
    assert set(reads["responses"]["200"]["content"]) == {"application/json", "text/csv",
                                                         "application/vnd.apache.arrow.stream"}
    assert reads["description"].startswith("Raw reads of one ICP")
    assert {p["name"] for p in reads["parameters"]} == {"icp_id", "start", "end", "direction", "as_of", "fields",
                                                          "format"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("description"), (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
    assert "Problem" in spec["components"]["schemas"]
    assert http.get("/schema").status_code == 200
