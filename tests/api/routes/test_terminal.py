"""The terminal page and its assets as the gateway serves them: the built files, a CSP with no inline script, no
framing, and nothing outside the build reachable."""

import re

import pytest

from api import web
from quantdesk.settings import Settings
from tests.api.conftest import client, gateway


@pytest.fixture
async def http(settings: Settings, built: None):
    """Return a client of the in-process gateway, the page built."""
    async with gateway(settings) as asgi, client(asgi) as opened:
        yield opened


async def test_the_page_is_served_at_the_root_with_its_security_headers(http) -> None:
    page = await http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and page.headers["x-frame-options"] == "DENY"
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/assets/' in attrs and not body.strip() for attrs, body in scripts)  # none inline
    assert "http://" not in " ".join(a for a, _ in scripts) and "https://" not in " ".join(a for a, _ in scripts)


async def test_the_page_s_assets_are_served_and_nothing_else(http) -> None:
    page = (await http.get("/")).text
    script = re.search(r'src="/assets/([^"]+\.js)"', page)[1]
    served = await http.get(f"/assets/{script}")
    assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert "immutable" in served.headers["cache-control"]
    assert served.content == (web.WWW / "assets" / script).read_bytes()
    for name in ("nothing.js", "..%2Findex.html", "..%2F..%2Fweb.py", "index.html"):
        missing = await http.get(f"/assets/{name}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found", name


async def test_the_api_is_not_shadowed_by_the_page(http) -> None:
    unknown = await http.get("/api/v1/nothing")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert (await http.get("/health")).json() == {"status": "ok"}


async def test_an_unbuilt_page_says_how_to_build_it(settings: Settings, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(web, "WWW", tmp_path)  # a clone where `make web` has not run
    async with gateway(settings) as asgi, client(asgi) as http:
        missing = await http.get("/")
    assert missing.status_code == 404 and "make web" in missing.json()["error"]["message"]
