"""Proposals on the annotation page, in Chromium: keep one (K over it), drop one (X), keep all
above a score (Shift+K, with the label chosen), keep all inside a box (W, then drag), and a
reload on the `proposals:changed` event the Find box dispatches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import login, open_annotate
from tests.browser.test_annotate_page import annotations_of, shot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _offer(image: Any, boxes: list[tuple[tuple[int, int, int, int], float, Any]]) -> list[Any]:
    from annotator import services
    from annotator.geometry import mask_to_rle

    items = []
    for (x0, y0, x1, y1), score, label in boxes:
        mask = np.zeros((image.height, image.width), bool)
        mask[y0:y1, x0:x1] = True
        items.append(services.ProposalIn(rle=mask_to_rle(mask), score=score, label=label))
    return services.proposals_create(
        image=image,
        items=items,
        source="everything",
        created_by=image.project.memberships.first().user,
    )


def _pending(page: Any, n: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#proposals li').length === {n}")


def _point(page: Any, x: float, y: float) -> list[float]:
    return page.evaluate(f"window.annotator.imageToClient({x}, {y})")


def test_proposals_are_kept_dropped_by_score_and_by_box_from_the_keyboard(
    world: dict, live_server: Any, page: Any
) -> None:
    image, project = world["image"], world["project"]
    cat, background = project.labels.get(name="cat"), project.labels.get(name="background")
    _offer(image, [
        ((20, 20, 80, 80), 0.95, cat),       # kept with K, its suggested label
        ((120, 20, 180, 80), 0.40, None),    # dropped with X
        ((220, 20, 280, 80), 0.92, None),    # kept above 0.9, with the label chosen
        ((20, 150, 80, 210), 0.30, None),    # left pending
        ((310, 160, 360, 210), 0.20, None),  # both kept inside the box
        ((370, 220, 420, 270), 0.10, None),
    ])  # fmt: skip
    login(page, live_server.url, "ann")
    open_annotate(page, live_server.url, image.pk)
    page.wait_for_function("window.annotator.state().readOnly === false")
    _pending(page, 6)
    shot(page, "annotate-proposals.png")

    page.mouse.move(*_point(page, 50, 50))
    page.keyboard.press("k")
    _pending(page, 5)
    page.wait_for_function("window.annotator.state().annotations.length === 1")
    assert [a["label"] for a in annotations_of(page, image.pk)] == [cat.pk]

    page.mouse.move(*_point(page, 150, 50))
    page.keyboard.press("x")
    _pending(page, 4)
    assert len(annotations_of(page, image.pk)) == 1

    page.select_option("#proposal-label", str(background.pk))
    page.evaluate(
        """() => {
            const s = document.getElementById("proposal-min-score");
            s.value = "0.9";
            s.dispatchEvent(new Event("input"));
            document.activeElement.blur();
        }"""
    )
    assert "(1)" in page.inner_text("#proposal-min-score-out")
    page.keyboard.press("Shift+K")
    _pending(page, 3)
    page.wait_for_function("window.annotator.state().annotations.length === 2")

    page.keyboard.press("w")
    page.mouse.move(*_point(page, 300, 150))
    page.mouse.down()
    page.mouse.move(*_point(page, 430, 280), steps=5)
    page.mouse.up()
    _pending(page, 1)
    page.wait_for_function("window.annotator.state().annotations.length === 4")
    assert page.evaluate("window.annotator.state().mode") == "sam"
    labels = sorted(a["label"] for a in annotations_of(page, image.pk))
    assert labels == sorted([cat.pk, background.pk, background.pk, background.pk])

    # Another part of the page (the Find box) announces new proposals: the list reloads.
    _offer(image, [((100, 150, 160, 200), 0.5, cat)])
    page.evaluate(
        f"window.dispatchEvent(new CustomEvent('proposals:changed', {{detail: {{imageId: {image.pk}}}}}))"
    )
    _pending(page, 2)
    wait_until(lambda: image.proposals.filter(status="pending").count() == 2)
    page.keyboard.press("?")
    assert "drop the one under the mouse" in page.inner_text("#help-table")
