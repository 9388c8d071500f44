"""Security headers over real HTTP, and /docs served from the vendored Swagger UI."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from app.api.docs import SWAGGER_UI_DIR, SWAGGER_UI_VERSION
from tests.support.http import live_client


@pytest.fixture
def http(app):
    with live_client(app) as client:
        yield client


def _directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in
            (part.split() for part in policy.split(";") if part.strip())}


def test_every_answer_forbids_sniffing_and_sends_no_referrer(http):
    for path in ("/healthz", "/openapi.json", "/api/keys", "/no-such-page", "/docs",
                 "/docs/assets/swagger-ui.css"):
        answer = http.get(path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["Referrer-Policy"] == "no-referrer", path


def test_the_docs_page_allows_only_its_own_assets_and_its_one_inline_script(http):
    page = http.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = _directives(page.headers["Content-Security-Policy"])
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_json_answers_carry_no_page_policy(http):
    assert "Content-Security-Policy" not in http.get("/healthz").headers


def test_docs_serve_the_vendored_swagger_ui_with_its_licence(http):
    page = http.get("/docs").text
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert f"/docs/assets/{asset}" in page
        served = http.get(f"/docs/assets/{asset}")
        assert served.status_code == 200, asset
        assert served.content == (SWAGGER_UI_DIR / asset).read_bytes()
    bundle = http.get("/docs/assets/swagger-ui-bundle.js").text
    assert f'PACKAGE_VERSION:"{SWAGGER_UI_VERSION}"' in bundle
    assert SWAGGER_UI_VERSION.startswith("5.")
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    assert SWAGGER_UI_VERSION in (SWAGGER_UI_DIR / "NOTICE").read_text()
