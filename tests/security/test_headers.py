"""The Content-Security-Policy on every kind of response, and the API docs served without a CDN.

tests/browser/test_csp.py shows in Chromium that the pages work under the policy; this checks
that every response carries it (a worker script's own header is the worker's policy) and that
the docs page names only files of our origin.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests import factories
from webapp.middleware import CSP_HEADER


@pytest.fixture
def staff_client(settings: Any) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client = Client()
    client.force_login(factories.user("boss", is_staff=True, is_superuser=True))
    return client


def test_the_policy_allows_script_from_our_origin_only() -> None:
    directives = dict(d.split(" ", 1) for d in CSP_HEADER.split("; "))
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert all("unsafe-eval'" not in v.replace("wasm-unsafe-eval", "") for v in directives.values())  # fmt: skip
    assert "unsafe-inline" not in directives["script-src"] + directives["worker-src"]
    assert not re.search(r"https?:|\*", CSP_HEADER), "no other origin is trusted"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/accounts/login/",
        "/status/",
        "/admin/",
        "/api/docs/",
        "/api/docs/?script=",
        "/api/schema/",
        "/api/projects/",
        "/api/nonexistent",
        "/healthz",
        "/nowhere/",
        "/static/app/pages/annotate.js",
        "/static/app/decoder/worker.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    ],
)
def test_every_response_carries_the_policy(
    staff_client: Client, frontend_dist: Any, path: str
) -> None:
    response = staff_client.get(path)
    assert response.status_code < 500
    assert response["Content-Security-Policy"] == CSP_HEADER
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"


@pytest.mark.django_db
def test_the_api_docs_load_swagger_ui_from_our_origin(client: Client) -> None:
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "<script>" not in html, "the start-up script is a file, not inline"
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        if asset.streaming:  # WhiteNoise's file, read to the end so the test client closes it
            b"".join(asset.streaming_content)
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
