"""Every page under the Content-Security-Policy, in Chromium: no violation reported.

One session (a manager who is also staff) walks the login page, the projects list, a project,
the manage area (new project, dashboard, dataset, people, settings, jobs and its export dialog),
the annotation page with the real decoder running (WASM in workers), /status/, the API docs
(Swagger UI from drf-spectacular-sidecar, not a CDN) and the admin. Each document records the
`securitypolicyviolation` events it sees; Chromium's console reports the rest (a blocked
worker, script or WASM compile inside a worker).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber}`));
"""


def _wait(page: Any, expression: str, timeout: float = 60.0) -> None:
    """wait_for_function() would eval the expression in the page, which the policy forbids
    (and reports): poll from outside with evaluate() instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        time.sleep(0.1)


def _visit(page: Any, url: str, ready: str | None = None) -> list[str]:
    """Open `url`, wait for what shows the page worked, return the violations it reported."""
    response = page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy, (url, policy)
    if ready:
        page.wait_for_selector(ready, timeout=30000)
    page.wait_for_load_state("networkidle")
    return [f"{url}: {v}" for v in page.evaluate("window.__cspViolations")]


def test_no_page_reports_a_csp_violation(world: dict, live_server: Any, browser: Any) -> None:
    base = live_server.url
    staff = world["man"]
    staff.is_staff = staff.is_superuser = True
    staff.save()
    project, image = world["project"], world["image"]

    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=False)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and console.append(f"{page.url}: {m.text}"),
    )
    violations: list[str] = []

    violations += _visit(page, f"{base}/accounts/login/", "input[name=username]")
    page.fill("input[name=username]", staff.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("#projects li[data-project-id]")
    violations += page.evaluate("window.__cspViolations")

    violations += _visit(page, f"{base}/projects/{project.pk}/", "main")
    violations += _visit(page, f"{base}/status/", "#status[data-api]")
    # The manage area, with a dialog its script builds (the export options).
    violations += _visit(page, f"{base}/projects/new/", ".label-row")
    for name, ready in (
        ("dashboard", "#by-status tr[data-status]"),
        ("dataset", "#images tbody tr[data-image-id]"),
        ("people", "#members tr[data-username]"),
        ("settings", "#labels tr[data-label-id]"),
        ("jobs", "#jobs tbody tr"),
    ):
        violations += _visit(page, f"{base}/projects/{project.pk}/{name}/", ready)
    page.click("#start-export")
    page.wait_for_selector("dialog[open] input[name=format]")
    violations += [f"export dialog: {v}" for v in page.evaluate("window.__cspViolations")]

    # The annotation page: the decoder loads (WASM compiled in a worker, its threads in nested
    # workers) and decodes a hover into a mask, which nothing would draw if CSP blocked it.
    page.goto(f"{base}/images/{image.pk}/annotate/")
    _wait(page, "window.annotator && document.getElementById('annotate').dataset.ready !== undefined")  # fmt: skip
    assert page.evaluate("window.annotator.state().ready"), page.inner_text("#notices")
    x, y = page.evaluate("window.annotator.imageToClient(230, 150)")
    page.mouse.move(x - 20, y - 10)
    page.mouse.move(x, y, steps=5)
    _wait(page, "window.annotator.latencies().paint.length > 0")
    assert page.evaluate("crossOriginIsolated")
    violations += [f"annotate: {v}" for v in page.evaluate("window.__cspViolations")]

    # Swagger UI, its files and start-up script from our origin; it renders the operations it
    # read from the schema.
    docs_assets: list[str] = []
    page.on("request", lambda r: docs_assets.append(r.url))
    violations += _visit(page, f"{base}/api/docs/", ".swagger-ui .opblock")
    assert all(url.startswith(base) or url.startswith("data:") for url in docs_assets), docs_assets
    assert any("swagger-ui-bundle.js" in url for url in docs_assets)

    violations += _visit(page, f"{base}/admin/", "#content-main")
    violations += _visit(
        page, f"{base}/admin/annotator/project/{project.pk}/change/", "#project_form"
    )
    violations += _visit(page, f"{base}/admin/annotator/image/", "#changelist")
    context.close()

    assert not violations, "\n".join(violations)
    assert not console, "\n".join(console)
