"""Swagger UI works offline: headless Chromium loads /docs and lists the operations."""

import shutil
import subprocess

import pytest

from tests.support.apps import IN_CI, make_app
from tests.support.http import ServerThread
from tests.support.servers import free_port

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture
def chromium():
    binary = shutil.which("chromium")
    if binary is None:
        if IN_CI:
            pytest.fail("CI needs Debian's chromium for the /docs check", pytrace=False)
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def test_swagger_ui_lists_the_operations_with_its_own_assets(chromium, tmp_path, sqlite_url):
    app = make_app(tmp_path, sqlite_url)
    with ServerThread(app, free_port()) as server:
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=15000", "--dump-dom", f"{server.url}/docs"],
            capture_output=True, text=True, timeout=120,
        )
    dom = result.stdout
    assert 'class="swagger-ui' in dom, result.stderr[-2000:]
    for path in ("/api/keys", "/api/keys/{key_id}", "/api/sessions/login", "/healthz"):
        assert f'data-path="{path}"' in dom, path
    assert "Authorize" in dom


def test_the_docs_page_loads_no_asset_from_outside(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
