"""The shapes in the page, keyboard first: R and a drag draw a box, the sidebar sets its
attributes, M turns it into SAM's mask (the browser decoder with the box as prompt; Ctrl+Z makes
it a box again) and Shift+1 toggles an image tag. Each step is checked through the REST API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import login, open_annotate
from tests.browser.test_annotate_page import annotations_of, api, shot, wait_until
from tests.browser.test_labeling_tools import at, state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _only(page: Any, image_id: int) -> dict[str, Any]:
    (a,) = annotations_of(page, image_id)
    return a


def test_box_attributes_box_to_sam_mask_and_tags(world: dict, live_server: Any, page: Any) -> None:
    from annotator import services

    project, image = world["project"], world["image"]
    indoor = services.label_create(project=project, name="indoor", color="#22c55e", kind="tag")
    services.attribute_create(project=project, name="occluded", type="checkbox", default=False)
    services.attribute_create(
        project=project, name="pose", type="select", choices=["front", "side"]
    )
    cat = project.labels.get(name="cat").pk
    login(page, live_server.url, "ann")
    open_annotate(page, live_server.url, image.pk)
    assert state(page)["ready"], page.inner_text("#notices")

    # R, then a drag: a box of the current label, saved as a box and selected.
    page.keyboard.press("r")
    assert state(page)["mode"] == "box"
    page.mouse.move(*at(page, 120, 40))
    page.mouse.down()
    page.mouse.move(*at(page, 200, 150), steps=4)
    page.mouse.move(*at(page, 330, 260), steps=4)
    page.mouse.up()
    wait_until(lambda: len(annotations_of(page, image.pk)) == 1)
    box = _only(page, image.pk)
    assert box["kind"] == "box" and box["label"] == cat
    assert box["bbox"] == pytest.approx([120, 40, 210, 220], abs=1.0)
    assert box["attributes"] == {"occluded": False}  # the default
    assert state(page)["selectedId"] == box["id"]

    # The sidebar shows the selected box's attributes; each change is saved at once.
    page.click("#attributes input[data-attribute=occluded]")
    wait_until(lambda: _only(page, image.pk)["attributes"].get("occluded") is True)
    page.select_option("#attributes select[data-attribute=pose]", "side")
    wait_until(lambda: _only(page, image.pk)["attributes"].get("pose") == "side")
    # Out of the form field (keys typed there are not shortcuts); Esc would also deselect.
    page.evaluate("document.activeElement.blur()")
    assert state(page)["selectedId"] == box["id"]
    shot(page, "annotate-box-attributes.png")

    # M: SAM decodes the box as its prompt and the box becomes that mask, the same object.
    page.keyboard.press("m")
    try:
        wait_until(lambda: _only(page, image.pk)["kind"] == "mask")
    except AssertionError:
        raise AssertionError(page.inner_text("#notices")) from None
    mask = _only(page, image.pk)
    assert (mask["id"], mask["label"]) == (box["id"], cat)
    assert mask["attributes"] == {"occluded": True, "pose": "side"}
    assert mask["polygons"] and mask["area"] > 0 and mask["score"] is not None
    assert mask["prompts"]["box"] == pytest.approx([box["bbox"][0], box["bbox"][1],
        box["bbox"][0] + box["bbox"][2], box["bbox"][1] + box["bbox"][3]], abs=0.01)  # fmt: skip
    assert state(page)["prompts"]["box"] is None  # the prompt is not left on screen
    shot(page, "annotate-box-to-mask.png")
    # Ctrl+Z makes it the box again, Ctrl+Shift+Z the mask.
    page.keyboard.press("Control+z")
    wait_until(lambda: _only(page, image.pk)["kind"] == "box")
    assert _only(page, image.pk)["bbox"] == box["bbox"]
    page.keyboard.press("Control+Shift+z")
    wait_until(lambda: _only(page, image.pk)["kind"] == "mask")

    # Shift+1 sets the first image tag, again takes it off; the strip shows which are on.
    tag_button = f"#tags button[data-tag='{indoor.pk}']"

    def tags_after(press: Any, pressed: str) -> list[int]:
        press()
        page.wait_for_selector(f"{tag_button}[aria-pressed={pressed}]")
        return api(page, "GET", f"/api/images/{image.pk}/")["body"]["tags"]

    assert tags_after(lambda: page.keyboard.press("Shift+Digit1"), "true") == [indoor.pk]
    assert tags_after(lambda: page.keyboard.press("Shift+Digit1"), "false") == []
    assert tags_after(lambda: page.click(tag_button), "true") == [indoor.pk]
    # Tags are no object labels: the number keys still pick among cat and background only.
    assert page.locator("#labels button").count() == 2

    # The ? overlay lists the new keys.
    page.keyboard.press("?")
    help_text = page.inner_text("#help")
    assert "Box to SAM mask" in help_text and "image tag" in help_text
