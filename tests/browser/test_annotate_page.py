"""The annotation page in headless Chromium against the real server, model and decoder."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import login, open_annotate
from tests.conftest import ARTIFACTS_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api(page: Any, method: str, url: str, body: Any = None) -> Any:
    """Call the API from inside the page, with its session and CSRF cookie."""
    return page.evaluate(
        """async ([method, url, body]) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)?.[1] ?? "";
            const init = {method, headers: {"Content-Type": "application/json", "X-CSRFToken": token}};
            if (body !== null) init.body = JSON.stringify(body);
            const res = await fetch(url, init);
            return {status: res.status, body: res.status === 204 ? null : await res.json()};
        }""",
        [method, url, body],
    )


def annotations_of(page: Any, image_id: int) -> list[dict[str, Any]]:
    res = api(page, "GET", f"/api/images/{image_id}/annotations/")
    body = res["body"]
    return body["results"] if isinstance(body, dict) else body


def mask_pixels(page: Any) -> int:
    """Painted pixels on the mask layer."""
    return page.evaluate(
        """() => {
            const c = document.querySelector("canvas.layer-mask");
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
            return n;
        }"""
    )


def shot(page: Any, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / name))


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def test_hover_click_accept_undo_lock_and_review(
    world: dict, live_server: Any, browser: Any
) -> None:
    base = live_server.url
    image = world["image"]
    ann = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ann.new_page()
    login(page, base, "ann")
    page.wait_for_selector("#projects li[data-project-id]")
    open_annotate(page, base, image.pk)
    assert page.evaluate("window.annotator.state().ready"), page.inner_text("#notices")

    # Hover: a mask appears under the cursor.
    x, y = page.evaluate("window.annotator.imageToClient(230, 150)")
    page.mouse.move(x - 20, y - 10)
    page.mouse.move(x, y, steps=5)
    page.wait_for_function("window.annotator.latencies().paint.length > 0")
    wait_until(lambda: mask_pixels(page) > 100)
    shot(page, "annotate-hover.png")

    # Click, then Enter: the mask is saved as polygons with the current label.
    page.mouse.click(x, y)
    page.wait_for_function("window.annotator.previewPolygons()?.length > 0")
    shot(page, "annotate-click-preview.png")

    # Tab cycles SAM's candidates for the ambiguous single click, and comes back round.
    first = page.evaluate("window.annotator.state().chosen")
    assert first in (1, 2, 3)
    page.keyboard.press("Tab")
    page.wait_for_function(f"window.annotator.state().chosen !== {first}")
    page.keyboard.press("Shift+Tab")
    page.wait_for_function(f"window.annotator.state().chosen === {first}")
    page.keyboard.press("Enter")
    wait_until(lambda: len(annotations_of(page, image.pk)) == 1)
    saved = annotations_of(page, image.pk)[0]
    assert saved["source"] == "sam" and saved["polygons"][0]["outer"]
    assert saved["label"] == world["project"].labels.get(name="cat").pk
    page.mouse.move(5, 5)
    shot(page, "annotate-accepted.png")

    # Undo removes it again, redo brings it back, undo again.
    page.keyboard.press("Control+z")
    wait_until(lambda: len(annotations_of(page, image.pk)) == 0)
    page.keyboard.press("Control+Shift+z")
    wait_until(lambda: len(annotations_of(page, image.pk)) == 1)

    # A second user sees the image locked and cannot edit it.
    rev = browser.new_context(viewport={"width": 1280, "height": 800})
    page2 = rev.new_page()
    login(page2, base, "rev")
    open_annotate(page2, base, image.pk)
    assert page2.evaluate("window.annotator.state().readOnly")
    assert page2.locator("#lock-state").is_visible()
    assert "ann" in page2.inner_text("#lock-state")
    shot(page2, "annotate-locked.png")

    # Submit for review, then the reviewer rejects with a comment and the status follows.
    page.click("[data-action=submit]")
    wait_until(
        lambda: api(page, "GET", f"/api/images/{image.pk}/")["body"]["status"] == "submitted"
    )
    open_annotate(page2, base, image.pk)
    page2.wait_for_selector("#review-box:not([hidden])", timeout=20000)
    page2.fill("#review-comment", "the ear is missing")
    page2.click("[data-action=review-reject]")
    wait_until(
        lambda: api(page2, "GET", f"/api/images/{image.pk}/")["body"]["status"] == "rejected"
    )
    reviewed = api(page2, "GET", f"/api/images/{image.pk}/")["body"]
    assert reviewed["review_comment"] == "the ear is missing"
    shot(page2, "annotate-reviewed.png")
    ann.close()
    rev.close()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_masks_accepted_in_the_browser_match_the_servers_predict(
    world: dict, live_server: Any, page: Any, reference_manifest: dict
) -> None:
    from annotator import geometry

    base = live_server.url
    image = world["image"]
    login(page, base, "ann")
    open_annotate(page, base, image.pk)
    page.evaluate("window.annotator.setTolerance(0)")
    cases = reference_manifest["models"]["sam_vit_small"]["images"]["chelsea"]["cases"]
    # POST /predict takes no mask input, so the refinement case has no server counterpart.
    cases = [c for c in cases if not c.get("use_mask_input_from")]
    assert cases
    for case in cases:
        prompt = {
            "point_coords": case.get("point_coords", []),
            "point_labels": case.get("point_labels", []),
            "box": case.get("box"),
            "multimask_output": case["multimask_output"],
        }
        page.evaluate("(c) => window.annotator.setPromptCase(c)", prompt)
        saved = page.evaluate("window.annotator.accept()")
        assert saved and saved["id"], case["name"]
        server = api(page, "POST", f"/api/images/{image.pk}/predict", {**prompt, "polygons": False})
        assert server["status"] == 200, server
        best = max(server["body"]["masks"], key=lambda m: m["score"])
        ours = geometry.rle_to_mask(saved["rle"])
        theirs = geometry.rle_to_mask(best["rle"])
        assert _iou(ours, theirs) >= 0.99, (case["name"], _iou(ours, theirs))
    shot(page, "annotate-parity.png")


def test_everything_mode_proposals_are_accepted_or_rejected(
    world: dict, live_server: Any, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotator import queue, services

    queued: list[int] = []
    real_publish = queue.publish

    def publish(name: str, args: Any, **options: Any) -> Any:
        if name != queue.JOB_RUN:
            return real_publish(name, args, **options)
        queued.extend(args)

    monkeypatch.setattr(queue, "publish", publish)
    image = world["image"]
    # An annotator may run it on the image they hold (the page holds its lock).
    login(page, live_server.url, "ann")
    open_annotate(page, live_server.url, image.pk)
    # Options…: the generator's parameters within an annotator's bounds, on this image only.
    # The job runs here, in the test's thread, on a coarse point grid (a handful of masks);
    # random weights predict low IoUs, so the quality filters are opened too.
    page.click("[data-action=everythingOptions]")
    page.wait_for_selector("dialog input[name=points_per_side]")
    assert page.get_attribute("dialog input[name=points_per_side]", "max") == "32"
    assert "On the 1 selected image" in page.inner_text("dialog")
    for key, value in (
        ("points_per_side", "4"),
        ("pred_iou_thresh", "0"),
        ("stability_score_thresh", "0"),
    ):
        page.fill(f"dialog input[name={key}]", value)
    page.click("dialog button[type=submit]")
    wait_until(lambda: bool(queued))
    from annotator.models import Job

    job = Job.objects.get(pk=queued[0])
    assert job.params["image_ids"] == [image.pk] and job.params["points_per_side"] == 4
    assert job.params["pred_iou_thresh"] == 0 and job.params["stability_score_thresh"] == 0
    services.job_run(job=job)
    page.wait_for_function(
        "/proposal|failed|did not/.test(document.getElementById('everything-state').textContent"
        " + document.getElementById('notices').textContent)",
        timeout=120000,
    )
    proposed = page.locator("#proposals li").count()
    assert proposed, page.inner_text("#annotate")
    # Proposals, not annotations, until kept.
    assert annotations_of(page, image.pk) == []
    shot(page, "annotate-everything.png")
    page.locator("#proposals li").first.locator("button", has_text="✗").click()
    page.wait_for_function(f"document.querySelectorAll('#proposals li').length === {proposed - 1}")
    assert annotations_of(page, image.pk) == []
    if proposed > 1:
        # The current label (cat) is the default: the job suggested none.
        page.locator("#proposals li").first.locator("button", has_text="✓").click()
        page.wait_for_function(
            f"document.querySelectorAll('#proposals li').length === {proposed - 2}"
        )
        kept = annotations_of(page, image.pk)
        assert len(kept) == 1 and kept[0]["label"] == world["project"].labels.get(name="cat").pk
        page.wait_for_function("window.annotator.state().annotations.length === 1")


def test_a_pending_embedding_is_shown_as_computing_until_it_is_ready(
    world: dict, live_server: Any, page: Any
) -> None:
    from annotator.models import Embedding

    image = world["image"]
    Embedding.objects.filter(image=image).update(status="pending")
    login(page, live_server.url, "ann")
    page.wait_for_selector("#projects li[data-project-id]")
    shot(page, "projects.png")
    page.click("#projects a")
    page.wait_for_selector(f"#images tr[data-image-id='{image.pk}'][data-status=new]")
    assert "pending" in page.inner_text("#images tbody")
    shot(page, "images.png")
    page.goto(f"{live_server.url}/images/{image.pk}/annotate/")
    page.wait_for_selector("[data-notice=embedding]", timeout=30000)
    assert "computing" in page.inner_text("#embedding-state")
    shot(page, "annotate-computing.png")
    Embedding.objects.filter(image=image).update(status="ready")
    page.wait_for_function("document.getElementById('annotate').dataset.ready === 'true'")
    assert page.locator("[data-notice=embedding]").count() == 0


SQUARE = [{"outer": [[100, 100], [200, 100], [200, 200], [100, 200]], "holes": []}]


def open_with_a_square(world: dict, live_server: Any, page: Any) -> int:
    """Logs the annotator in on an image that has one square annotation; returns its id."""
    image = world["image"]
    login(page, live_server.url, "ann")
    open_annotate(page, live_server.url, image.pk)
    label = world["project"].labels.get(name="cat").pk
    created = api(
        page, "POST", f"/api/images/{image.pk}/annotations/", {"label": label, "polygons": SQUARE}
    )
    assert created["status"] == 201, created
    page.reload()
    page.wait_for_function("document.getElementById('annotate').dataset.ready !== undefined")
    return int(created["body"]["id"])


def drag_vertex(page: Any, fx: float, fy: float, tx: float, ty: float) -> None:
    """In vertex mode: select the square (click inside it), drag its vertex (fx, fy) to (tx, ty)."""
    page.mouse.click(*page.evaluate("window.annotator.imageToClient(150, 150)"))
    page.mouse.move(*page.evaluate(f"window.annotator.imageToClient({fx}, {fy})"))
    page.mouse.down()
    page.mouse.move(*page.evaluate(f"window.annotator.imageToClient({tx}, {ty})"), steps=4)
    page.mouse.up()


def test_vertex_drag_saves_and_a_stale_save_keeps_the_users_edit(
    world: dict, live_server: Any, page: Any
) -> None:
    annotation_id = open_with_a_square(world, live_server, page)
    page.keyboard.press("v")

    def drag(fx: float, fy: float, tx: float, ty: float) -> None:
        drag_vertex(page, fx, fy, tx, ty)

    url = f"/api/annotations/{annotation_id}/"
    drag(200, 200, 240, 230)
    wait_until(lambda: api(page, "GET", url)["body"]["version"] == 2)
    outer = api(page, "GET", url)["body"]["polygons"][0]["outer"]
    assert any(abs(x - 240) < 1.5 and abs(y - 230) < 1.5 for x, y in outer), outer

    # Someone else saves in between: the page's next save is stale and gets 409.
    theirs = {"version": 2, "polygons": SQUARE}
    assert api(page, "PATCH", url, theirs)["status"] == 200
    drag(100, 100, 60, 70)
    page.wait_for_selector("[data-notice=conflict]")
    shot(page, "annotate-conflict.png")
    page.locator("[data-notice=conflict] button", has_text="Keep mine").click()
    wait_until(lambda: api(page, "GET", url)["body"]["version"] == 4)
    outer = api(page, "GET", url)["body"]["polygons"][0]["outer"]
    assert any(abs(x - 60) < 1.5 and abs(y - 70) < 1.5 for x, y in outer), outer

    # Again, and this time the user reloads theirs: the server keeps their square, and the page
    # now holds its current version, so the next edit saves without a conflict.
    assert api(page, "PATCH", url, {"version": 4, "polygons": SQUARE})["status"] == 200
    drag(200, 100, 230, 80)
    page.wait_for_selector("[data-notice=conflict]")
    page.locator("[data-notice=conflict] button", has_text="Take theirs").click()
    page.wait_for_selector("[data-notice=conflict]", state="detached")
    assert api(page, "GET", url)["body"]["polygons"] == SQUARE
    drag(200, 100, 230, 80)
    wait_until(lambda: api(page, "GET", url)["body"]["version"] == 6)
    outer = api(page, "GET", url)["body"]["polygons"][0]["outer"]
    assert any(abs(x - 230) < 1.5 and abs(y - 80) < 1.5 for x, y in outer), outer
    assert page.locator("[data-notice]").count() == 0


def test_an_edit_of_an_annotation_someone_deleted_can_be_saved_as_new(
    world: dict, live_server: Any, page: Any
) -> None:
    annotation_id = open_with_a_square(world, live_server, page)
    page.keyboard.press("v")
    assert api(page, "DELETE", f"/api/annotations/{annotation_id}/")["status"] == 204
    drag_vertex(page, 200, 200, 240, 230)
    page.wait_for_selector("[data-notice=conflict]")
    shot(page, "annotate-deleted-meanwhile.png")
    page.locator("[data-notice=conflict] button", has_text="Save as new").click()
    page.wait_for_selector("[data-notice=conflict]", state="detached")
    saved = annotations_of(page, world["image"].pk)
    assert len(saved) == 1 and saved[0]["id"] != annotation_id, saved
    outer = saved[0]["polygons"][0]["outer"]
    assert any(abs(x - 240) < 1.5 and abs(y - 230) < 1.5 for x, y in outer), outer
    assert page.evaluate("window.annotator.state().annotations") == [saved[0]["id"]]


def test_brush_adds_to_and_eraser_cuts_from_the_selected_annotation(
    world: dict, live_server: Any, page: Any
) -> None:
    annotation_id = open_with_a_square(world, live_server, page)
    url = f"/api/annotations/{annotation_id}/"
    page.click(f"#annotation-list li[data-annotation-id='{annotation_id}']")

    def stroke(mode: str, points: list[tuple[int, int]]) -> None:
        page.keyboard.press(mode)
        page.mouse.move(
            *page.evaluate(f"window.annotator.imageToClient({points[0][0]}, {points[0][1]})")
        )
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(*page.evaluate(f"window.annotator.imageToClient({x}, {y})"), steps=3)
        page.mouse.up()

    stroke("b", [(200, 150), (260, 150)])  # a bar sticking out to the right
    wait_until(lambda: api(page, "GET", url)["body"]["version"] == 2)
    grown = api(page, "GET", url)["body"]["area"]
    assert grown > 10000 + 500, grown
    stroke("e", [(150, 90), (150, 210)])  # a cut through the middle
    wait_until(lambda: api(page, "GET", url)["body"]["version"] == 3)
    cut = api(page, "GET", url)["body"]
    assert cut["area"] < grown - 1000 and len(cut["polygons"]) == 2, (
        cut["area"],
        len(cut["polygons"]),
    )
    shot(page, "annotate-brush.png")
