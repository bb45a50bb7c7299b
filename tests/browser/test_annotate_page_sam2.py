"""The annotation page on a SAM 2.1 project, in headless Chromium against the real server: the
parity pack's small Hiera embedded by the worker code in the SAM 2 feature wire format, its
decoder exported with family "sam2", and the page's decoder worker picking the SAM 2 graphs
from the manifest. One lean pass: hover, click, accept, a prompt checked against the server's
predict, and everything mode."""

from __future__ import annotations

from typing import Any

import pytest

from export_onnx import wire2
from tests.browser.conftest import login, open_annotate
from tests.browser.test_annotate_page import (
    _iou,
    annotations_of,
    api,
    mask_pixels,
    shot,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_sam2_project_hovers_clicks_accepts_and_runs_everything(
    sam2_world: dict, live_server: Any, page: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from annotator import geometry, queue, services
    from annotator.models import Embedding, Job
    from annotator.services import everything

    base = live_server.url
    image = sam2_world["image"]
    # The hover atlas, as the atlas worker computes it (a coarse grid: 4 x 3 cells here).
    settings.SAM_ATLAS_GRID_CPU = 4
    row = Embedding.objects.get(image=image)
    assert services.atlas_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    login(page, base, "man")
    open_annotate(page, base, image.pk)
    assert page.evaluate("window.annotator.state().ready"), page.inner_text("#notices")
    atlas = page.evaluate("window.annotator.atlas()")
    assert atlas["loaded"] and atlas["grid"] == [3, 4], atlas

    # What the page fetched: a SAM 2 manifest and the feature wire format (at most 2.5 MB).
    project = api(page, "GET", f"/api/projects/{sam2_world['project'].pk}/")["body"]
    manifest = api(page, "GET", project["sam_model"]["manifest_url"])["body"]
    assert manifest["model"]["family"] == "sam2"
    size = page.evaluate(
        "async (u) => (await (await fetch(u)).arrayBuffer()).byteLength",
        f"/api/images/{image.pk}/embedding",
    )
    assert 2_000_000 < size <= wire2.MAX_BYTES

    # Hover: a mask appears under the cursor.
    x, y = page.evaluate("window.annotator.imageToClient(230, 150)")
    page.mouse.move(x - 20, y - 10)
    page.mouse.move(x, y, steps=5)
    page.wait_for_function("window.annotator.latencies().paint.length > 0")
    wait_until(lambda: mask_pixels(page) > 100)
    shot(page, "annotate-sam2-hover.png")
    # The atlas painted first (its cell's mask), the exact decode replaced it at rest.
    assert page.evaluate("window.annotator.latencies().atlasPaint.length") > 0
    page.wait_for_function("window.annotator.atlas().shown === 'exact'")

    # Click, then Enter: saved as polygons under the current label.
    page.mouse.click(x, y)
    page.wait_for_function("window.annotator.previewPolygons()?.length > 0")
    page.keyboard.press("Enter")
    wait_until(lambda: len(annotations_of(page, image.pk)) == 1)
    saved = annotations_of(page, image.pk)[0]
    assert saved["source"] == "sam" and saved["polygons"][0]["outer"]

    # The page's SAM 2 decode is the server's (the same graphs over the same wire bytes).
    page.evaluate("window.annotator.setTolerance(0)")
    prompt = {"point_coords": [[230, 150], [120, 60]], "point_labels": [1, 0],
              "box": [150, 40, 330, 260], "multimask_output": False}  # fmt: skip
    page.evaluate("(c) => window.annotator.setPromptCase(c)", prompt)
    accepted = page.evaluate("window.annotator.accept()")
    assert accepted and accepted["id"]
    server = api(page, "POST", f"/api/images/{image.pk}/predict", {**prompt, "polygons": False})
    assert server["status"] == 200, server
    theirs = geometry.rle_to_mask(server["body"]["masks"][0]["rle"])
    ours = geometry.rle_to_mask(accepted["rle"])
    assert _iou(ours, theirs) >= 0.99, _iou(ours, theirs)

    # Everything mode: the job runs here on a coarse grid (random weights: filters opened).
    for key, value in (
        ("points_per_side", 4),
        ("pred_iou_thresh", 0.0),
        ("stability_score_thresh", 0.0),
    ):
        monkeypatch.setitem(everything.EVERYTHING_DEFAULTS, key, value)
    queued: list[int] = []
    real_publish = queue.publish

    def publish(name: str, args: Any, **options: Any) -> Any:
        if name != queue.JOB_RUN:
            return real_publish(name, args, **options)
        queued.extend(args)

    monkeypatch.setattr(queue, "publish", publish)
    before = len(annotations_of(page, image.pk))
    page.click("[data-action=everything]")
    wait_until(lambda: bool(queued))
    job = services.job_run(job=Job.objects.get(pk=queued[0]))
    assert job.status == Job.Status.DONE, job.error
    page.wait_for_function("document.querySelectorAll('#proposals li').length > 0", timeout=120000)
    shot(page, "annotate-sam2-everything.png")
    # Kept from the proposals panel (the current label: the job suggested none).
    proposed = page.locator("#proposals li").count()
    page.locator("#proposals li").first.locator("button", has_text="✓").click()
    page.wait_for_function(f"document.querySelectorAll('#proposals li').length === {proposed - 1}")
    assert len(annotations_of(page, image.pk)) == before + 1
