"""The old routes redirect to the new ones, keeping method, body and query, marked deprecated."""

import pytest

from app.api.legacy import SUCCESSORS


@pytest.mark.parametrize("old, new", sorted(SUCCESSORS.items()))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_old_route_redirects_with_308_and_deprecation_headers(client, old, new, method):
    response = client.open(f"{old}?model=openai/gpt-4o&x=1", method=method,
                           json={"messages": []})
    assert response.status_code == 308
    assert response.headers["Location"] == f"{new}?model=openai/gpt-4o&x=1"
    assert response.headers["Deprecation"].startswith("@")
    assert response.headers["Sunset"].endswith("GMT")
    assert response.headers["Link"] == f'<{new}>; rel="successor-version"'


def test_old_routes_are_marked_deprecated_in_openapi(client):
    paths = client.get("/openapi.json").json["paths"]
    for old in SUCCESSORS:
        assert paths[old]["post"]["deprecated"] is True
