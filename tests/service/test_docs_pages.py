"""The API reference pages load nothing from another host: their scripts and styles come
from the app (service/assets), and every file they name is there."""
from __future__ import annotations

import re

import httpx
import pytest

LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_reference_pages_reference_only_the_app(http: httpx.Client, page: str) -> None:
    r = http.get(page, headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", html), "the page names another host"
    links = [link for link in LINKS.findall(html) if not link.startswith("data:")]
    scripts = [link for link in links if link.endswith(".js")]
    assert scripts and all(link.startswith("/schema/assets/") for link in links), links
    for link in links:
        asset = http.get(link)
        assert asset.status_code == 200, link
        assert len(asset.content) > (100_000 if link.endswith(".js") else 20)
        assert asset.headers["content-type"].startswith(("text/javascript", "application/javascript", "text/css"))


def test_scalar_is_told_not_to_reach_its_own_hosts(http: httpx.Client) -> None:
    html = http.get("/schema").text
    assert '"withDefaultFonts":false' in html and '"telemetry":false' in html and '"proxyUrl":""' in html


def test_an_asset_that_is_not_there_is_a_problem_404(http: httpx.Client) -> None:
    r = http.get("/schema/assets/nothing.js")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
