"""The review loop in two browser contexts: the annotator submits, the reviewer pins an issue
with I + a click and rejects with a comment, the annotator sees both, resolves the issue and
submits again, the reviewer accepts, and the accepted image is read-only to the annotator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import login, open_annotate
from tests.browser.test_annotate_page import api, shot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def status_of(page: Any, image_id: int) -> str:
    return str(api(page, "GET", f"/api/images/{image_id}/")["body"]["status"])


def test_review_loop_with_a_pinned_issue_resolved(
    world: dict, live_server: Any, browser: Any
) -> None:
    base, image = live_server.url, world["image"]
    ann = browser.new_context(viewport={"width": 1280, "height": 800})
    rev = browser.new_context(viewport={"width": 1280, "height": 800})
    annotator, reviewer = ann.new_page(), rev.new_page()
    login(annotator, base, "ann")
    login(reviewer, base, "rev")

    # New image: the annotator may submit; no decision buttons, no reopen.
    open_annotate(annotator, base, image.pk)
    annotator.wait_for_selector("[data-action=submit]:not([hidden])")
    assert annotator.locator("#review-box").is_hidden()
    assert annotator.locator("[data-action=reopen]").is_hidden()
    annotator.click("[data-action=submit]")
    wait_until(lambda: status_of(annotator, image.pk) == "submitted")
    # Submitting handed the image over: the annotator's page is read-only now.
    annotator.wait_for_function("window.annotator.state().readOnly === true")
    annotator.wait_for_selector("[data-action=submit][hidden]", state="attached")

    # The reviewer pins an issue: type it, I, click the cat's ear.
    open_annotate(reviewer, base, image.pk)
    reviewer.wait_for_selector("#review-box:not([hidden])")
    reviewer.fill("#issue-text", "this edge leaks into the background")
    reviewer.locator("#stage").focus()
    reviewer.keyboard.press("i")
    x, y = reviewer.evaluate("window.annotator.imageToClient(230, 150)")
    reviewer.mouse.click(x, y)
    reviewer.wait_for_selector("#issue-list li[data-resolved=false]")
    issue = api(reviewer, "GET", f"/api/images/{image.pk}/review")["body"]["issues"][0]
    assert issue["text"] == "this edge leaks into the background"
    assert abs(issue["x"] - 230) < 3 and abs(issue["y"] - 150) < 3
    reviewer.fill("#review-comment", "the ear is missing")
    reviewer.click("[data-action=review-reject]")
    wait_until(lambda: status_of(reviewer, image.pk) == "rejected")
    shot(reviewer, "review-rejected.png")

    # The annotator sees the comment and the issue, resolves it and submits again.
    open_annotate(annotator, base, image.pk)
    annotator.wait_for_function("window.annotator.state().readOnly === false")
    annotator.wait_for_selector("[data-action=submit]:not([hidden])")
    assert "the ear is missing" in annotator.inner_text("#review-note")
    assert "leaks into the background" in annotator.inner_text("#issue-list")
    annotator.click("#issue-list li[data-resolved=false] button")
    annotator.wait_for_selector("#issue-list li[data-resolved=true]")
    assert "resolved by ann" in annotator.inner_text("#issue-list")
    shot(annotator, "review-issue-resolved.png")
    annotator.click("[data-action=submit]")
    wait_until(lambda: status_of(annotator, image.pk) == "submitted")

    # The reviewer accepts; the annotator's page offers nothing more and the API refuses edits.
    open_annotate(reviewer, base, image.pk)
    reviewer.wait_for_selector("#review-box:not([hidden])")
    reviewer.click("[data-action=review-accept]")
    wait_until(lambda: status_of(reviewer, image.pk) == "accepted")
    open_annotate(annotator, base, image.pk)
    annotator.wait_for_function("window.annotator.state().readOnly === true")
    annotator.wait_for_selector("#image-status[data-status=accepted]")
    annotator.wait_for_selector("[data-action=submit][hidden]", state="attached")
    label = world["project"].labels.get(name="cat").pk
    body = {"label": label, "polygons": [{"outer": [[1, 1], [9, 1], [9, 9]], "holes": []}]}
    refused = api(annotator, "POST", f"/api/images/{image.pk}/annotations/", body)
    assert refused["status"] == 409 and "reopen" in refused["body"]["detail"]
    actions = [e["action"] for e in api(annotator, "GET", f"/api/images/{image.pk}/review")["body"]["events"]]  # fmt: skip
    assert actions == ["submit", "reject", "submit", "accept"]
    ann.close()
    rev.close()
