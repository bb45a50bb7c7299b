"""The labeling tools in the page, keyboard first: SAM's negative clicks, box, refinement and Tab;
the manual polygon and its edits; N / P, 1-9, Delete and Esc; the History panel (Y). Each test walks several tools in one
page session, as an annotator would, and checks what was saved through the REST API."""

from __future__ import annotations

import io
from typing import Any

import PIL.Image
import PIL.ImageOps
import pytest

from tests.browser.conftest import login, open_annotate
from tests.browser.test_annotate_page import annotations_of, api, shot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def at(page: Any, x: float, y: float) -> list[float]:
    """Image pixels -> the page's client coordinates."""
    return page.evaluate(f"window.annotator.imageToClient({x}, {y})")


def state(page: Any) -> dict[str, Any]:
    return page.evaluate("window.annotator.state()")


def decoded(page: Any, count: int) -> dict[str, Any]:
    """Waits for the page's `count`-th prompt decode to come back, traced; returns its logits."""
    page.wait_for_function(
        f"window.annotator.decodeLog().length >= {count} && window.annotator.state().settled"
    )
    return page.evaluate("window.annotator.resultSummary()")


def clear(page: Any) -> None:
    page.keyboard.press("Escape")
    page.wait_for_function("window.annotator.state().prompts.points.length === 0")


def test_sam_negative_clicks_box_refinement_and_tab_cycling(
    world: dict, live_server: Any, page: Any
) -> None:
    from annotator import geometry

    image = world["image"]
    login(page, live_server.url, "ann")
    open_annotate(page, live_server.url, image.pk)
    assert state(page)["ready"], page.inner_text("#notices")
    a, b, c = (230, 150), (260, 190), (180, 110)

    # One click: three candidates, each listed with its predicted IoU.
    page.mouse.click(*at(page, *a))
    decoded(page, 1)
    first = state(page)
    assert first["chosen"] in (1, 2, 3) and len(first["scores"]) == 4
    listed = page.eval_on_selector_all("#candidates li", "els => els.map(e => e.dataset.score)")
    assert [float(s) for s in listed] == pytest.approx(first["scores"][1:], rel=1e-6)

    # Tab and Shift+Tab go round the same three candidates: no decode, the same scores.
    sent = page.evaluate("window.annotator.decodeCount()")
    seen = []
    for key in ("Tab", "Tab", "Tab", "Shift+Tab"):
        page.keyboard.press(key)
        now = state(page)
        seen.append(now["chosen"])
        assert now["scores"] == first["scores"]
        current = page.eval_on_selector("#candidates li[aria-current=true]", "e => e.dataset.score")
        assert float(current) == pytest.approx(first["scores"][now["chosen"]], rel=1e-6)
    assert sorted(seen[:3]) == [1, 2, 3] and seen[2] == first["chosen"] and seen[3] == seen[1]
    assert page.evaluate("window.annotator.decodeCount()") == sent
    shot(page, "annotate-candidates.png")

    # A second click refines the candidate shown (not SAM's first choice): its logits go in as
    # mask_input, and the answer differs from the same two clicks decoded without them.
    chosen = state(page)["chosen"]
    assert chosen != first["chosen"]
    sums = page.evaluate("window.annotator.candidateSums()")
    page.mouse.click(*at(page, *b))
    refined = decoded(page, 2)
    fed = page.evaluate("window.annotator.decodeLog()")[-1]
    assert fed["maskInputFrom"] == chosen
    assert fed["maskInputSum"] == pytest.approx(sums[chosen], rel=1e-9)
    fresh_case = {"point_coords": [a, b], "point_labels": [1, 1], "multimask_output": False}
    page.evaluate("(c) => window.annotator.setPromptCase(c)", fresh_case)
    fresh = decoded(page, 3)
    assert page.evaluate("window.annotator.decodeLog()")[-1]["maskInputFrom"] is None
    assert abs(fresh["sum"] - refined["sum"]) > 1e-3 * (abs(fresh["sum"]) + 1)

    # Esc clears the prompt; then a positive click, and a negative one by right-click and by
    # Alt+click: both the same negative prompt, unlike the positive-only mask and unlike C clicked
    # as a positive point.
    clear(page)
    assert page.locator("#candidates li").count() == 0

    def two_clicks(second: str | None) -> dict[str, Any]:
        clear(page)
        n = len(page.evaluate("window.annotator.decodeLog()"))
        page.mouse.click(*at(page, *a))
        decoded(page, n + 1)
        if second is None:
            return page.evaluate("window.annotator.resultSummary()")
        if second == "alt":
            page.keyboard.down("Alt")
        page.mouse.click(*at(page, *c), button="right" if second == "right" else "left")
        if second == "alt":
            page.keyboard.up("Alt")
        return decoded(page, n + 2)

    positive_only = two_clicks(None)
    right = two_clicks("right")
    assert state(page)["prompts"]["labels"] == [1, 0]
    alt = two_clicks("alt")
    assert state(page)["prompts"]["labels"] == [1, 0]
    both_positive = two_clicks("left")
    assert state(page)["prompts"]["labels"] == [1, 1]
    assert alt == pytest.approx(right)
    assert right["sum"] != pytest.approx(positive_only["sum"], rel=1e-3)
    assert right["sum"] != pytest.approx(both_positive["sum"], rel=1e-3)

    # A box drag is the prompt on its own: Enter saves what the server's SAM gives for that box.
    # (Random test weights do not keep the mask inside the box, so the check is the model's own
    # answer for the dragged box, not the mask's extent.)
    clear(page)
    page.evaluate("window.annotator.setTolerance(0)")  # trace every pixel, as /predict does
    n = len(page.evaluate("window.annotator.decodeLog()"))
    page.mouse.move(*at(page, 150, 90))
    page.mouse.down()
    page.mouse.move(*at(page, 320, 230), steps=6)
    page.mouse.up()
    boxed = decoded(page, n + 1)
    box = state(page)["prompts"]["box"]
    assert box == pytest.approx([150, 90, 320, 230], abs=1.5)
    assert state(page)["prompts"]["points"] == [] and boxed != pytest.approx(positive_only)
    page.keyboard.press("Enter")
    wait_until(lambda: len(annotations_of(page, image.pk)) == 1)
    saved = annotations_of(page, image.pk)[0]
    predict = {"box": box, "multimask_output": False, "polygons": False}
    server = api(page, "POST", f"/api/images/{image.pk}/predict", predict)
    assert server["status"] == 200, server
    ours = geometry.rle_to_mask(saved["rle"])
    theirs = geometry.rle_to_mask(server["body"]["masks"][0]["rle"])
    assert (ours & theirs).sum() / max(1, (ours | theirs).sum()) >= 0.99
    shot(page, "annotate-box.png")


def same(a: list[Any], b: list[Any], tol: float = 1.5) -> bool:
    """Two lists of [x, y] points equal within `tol` pixels (pytest.approx takes no nesting)."""
    if len(a) != len(b):
        return False
    return all(
        abs(p - q) <= tol for u, v in zip(a, b, strict=True) for p, q in zip(u, v, strict=True)
    )


def near(points: list[list[float]], x: float, y: float) -> bool:
    return any(abs(px - x) < 1.5 and abs(py - y) < 1.5 for px, py in points)


def test_polygon_tool_edits_labels_delete_and_image_navigation(
    world: dict, live_server: Any, page: Any
) -> None:
    from annotator import services
    from annotator.models import Embedding
    from tests import factories

    project, image = world["project"], world["image"]
    # The project refuses the same file twice: the second image is chelsea mirrored.
    mirrored = io.BytesIO()
    PIL.ImageOps.mirror(PIL.Image.open(image.file)).save(mirrored, format="PNG")
    other = factories.image(project, data=mirrored.getvalue(), name="second.png")
    services.embedding_request(images=[other])
    services.embedding_compute(embedding_ids=[Embedding.objects.get(image=other).pk])
    labels = {name: project.labels.get(name=name).pk for name in ("cat", "background")}
    login(page, live_server.url, "ann")
    open_annotate(page, live_server.url, image.pk)
    assert state(page)["ready"], page.inner_text("#notices")

    # A SAM object stays on screen, candidates listed, while a polygon is drawn beside it.
    page.mouse.click(*at(page, 330, 200))
    decoded(page, 1)

    # 2 picks the second label; G the polygon tool. Backspace takes the last vertex back.
    page.keyboard.press("2")
    assert state(page)["labelIndex"] == 1
    page.keyboard.press("g")
    square = [(100, 100), (200, 100), (200, 200), (100, 200)]
    for x, y in [*square, (60, 250)]:
        page.mouse.click(*at(page, x, y))
    page.mouse.move(*at(page, 30, 150))
    shot(page, "annotate-polygon-drawing.png")
    page.keyboard.press("Backspace")
    assert same(state(page)["polygon"], square), state(page)["polygon"]
    # Clicking the first vertex closes the shape and saves it under the label picked.
    page.mouse.click(*at(page, *square[0]))
    wait_until(lambda: len(annotations_of(page, image.pk)) == 1)
    (saved,) = annotations_of(page, image.pk)
    assert saved["label"] == labels["background"] and saved["source"] == "manual"
    assert same(saved["polygons"][0]["outer"], square), saved["polygons"]
    url = f"/api/annotations/{saved['id']}/"

    # Esc drops a shape being drawn; Enter closes one; Delete removes the selected annotation.
    page.mouse.click(*at(page, 300, 40))
    page.mouse.click(*at(page, 400, 40))
    page.keyboard.press("Escape")
    assert state(page)["polygon"] is None
    for x, y in ((300, 40), (400, 40), (350, 120)):
        page.mouse.click(*at(page, x, y))
    page.keyboard.press("Enter")
    wait_until(lambda: len(annotations_of(page, image.pk)) == 2)
    triangle = state(page)["selectedId"]
    assert triangle in {a["id"] for a in annotations_of(page, image.pk)}
    page.keyboard.press("v")
    page.mouse.click(*at(page, 350, 70))
    assert state(page)["selectedId"] == triangle
    page.keyboard.press("Delete")
    wait_until(lambda: [a["id"] for a in annotations_of(page, image.pk)] == [saved["id"]])

    # History, keyboard only: Esc deselects; Y then lists the image's history, the deleted
    # triangle's too (newest first); Enter on its "created" version restores it under its id.
    page.keyboard.press("Escape")
    assert state(page)["selectedId"] is None
    page.keyboard.press("y")
    page.wait_for_function("document.activeElement?.id === 'history-list'")
    rows = page.eval_on_selector_all("#history-list option", "els => els.map(e => e.textContent)")
    assert rows[0].startswith(f"#{triangle} v2 deleted by ann"), rows
    assert rows[1].startswith(f"#{triangle} v1 created by ann"), rows
    page.keyboard.press("Enter")  # the second row is picked first: the version before the last
    wait_until(lambda: len(annotations_of(page, image.pk)) == 2)
    # The page selects it once the restore's answer is back, a moment after the server has it.
    wait_until(lambda: state(page)["selectedId"] == triangle)
    restored = api(page, "GET", f"/api/annotations/{triangle}/")["body"]
    assert restored["version"] == 3 and len(restored["polygons"][0]["outer"]) == 3
    # Esc gives the keys back to the page: Delete removes the restored triangle again.
    page.keyboard.press("Escape")
    page.keyboard.press("Delete")
    wait_until(lambda: [a["id"] for a in annotations_of(page, image.pk)] == [saved["id"]])

    def outer() -> list[list[float]]:
        return api(page, "GET", url)["body"]["polygons"][0]["outer"]

    def version() -> int:
        return api(page, "GET", url)["body"]["version"]

    # Edit: select the square; a press on an edge inserts a vertex there and drags it.
    page.mouse.click(*at(page, 150, 150))
    assert state(page)["selectedId"] == saved["id"]
    page.mouse.move(*at(page, 150, 100))
    page.mouse.down()
    page.mouse.move(*at(page, 150, 80), steps=4)
    page.mouse.up()
    wait_until(lambda: version() == 2)
    assert len(outer()) == 5 and near(outer(), 150, 80), outer()
    # Delete with the mouse over a vertex removes that vertex, not the annotation.
    page.mouse.move(*at(page, 200, 150))
    page.mouse.down()
    page.mouse.move(*at(page, 220, 150), steps=4)
    page.mouse.up()
    wait_until(lambda: version() == 3)
    assert len(outer()) == 6 and near(outer(), 220, 150), outer()
    page.mouse.move(*at(page, 220, 150))
    page.keyboard.press("Delete")
    wait_until(lambda: version() == 4)
    assert len(outer()) == 5 and not near(outer(), 220, 150), outer()
    # Alt+click and right-click on a vertex delete it.
    page.keyboard.down("Alt")
    page.mouse.click(*at(page, 200, 200))
    page.keyboard.up("Alt")
    wait_until(lambda: version() == 5)
    assert len(outer()) == 4 and not near(outer(), 200, 200), outer()
    page.mouse.click(*at(page, 200, 100), button="right")
    wait_until(lambda: version() == 6)
    before_move = outer()
    assert len(before_move) == 3 and not near(before_move, 200, 100), before_move
    # A drag inside moves the whole shape.
    page.mouse.move(*at(page, 115, 125))
    page.mouse.down()
    page.mouse.move(*at(page, 145, 145), steps=5)
    page.mouse.up()
    wait_until(lambda: version() == 7)
    moved = outer()
    assert same([[x - 30, y - 20] for x, y in moved], before_move), (moved, before_move)
    # Undo puts it back, redo moves it again; 1 relabels the selected annotation.
    page.keyboard.press("Control+z")
    wait_until(lambda: version() == 8)
    assert same(outer(), before_move, 1e-6)
    page.keyboard.press("Control+Shift+z")
    wait_until(lambda: version() == 9)
    assert same(outer(), moved, 1e-6)
    # Arrow keys nudge it: presses during a save add up instead of conflicting.
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Shift+ArrowDown"):
        page.keyboard.press(key)
    nudged = [[x + 3, y + 10] for x, y in moved]
    wait_until(lambda: same(outer(), nudged, 1e-6))
    assert page.locator("[data-notice]").count() == 0
    page.keyboard.press("1")
    wait_until(lambda: api(page, "GET", url)["body"]["label"] == labels["cat"])
    assert state(page)["labelIndex"] == 0
    # Y on the selected square: its versions, the relabel on top; Enter reverts to the one before
    # (the label back, the shape kept), saved as a new version; Esc leaves the list.
    relabelled = version()
    page.keyboard.press("y")
    page.wait_for_function("document.activeElement?.id === 'history-list'")
    top = page.inner_text("#history-list option >> nth=0")
    assert top.startswith(f"v{relabelled} edited by ann") and top.endswith(": label"), top
    shot(page, "annotate-history.png")
    page.keyboard.press("Enter")
    wait_until(lambda: version() == relabelled + 1)
    assert api(page, "GET", url)["body"]["label"] == labels["background"]
    assert same(outer(), nudged, 1e-6)
    page.wait_for_function(
        f"document.querySelector('#history-list option')?.textContent.startsWith("
        f"'v{relabelled + 1} reverted to v{relabelled - 1}')"
    )
    page.keyboard.press("Escape")
    # A revert is undone like an edit: Ctrl+Z reverts to the version it replaced (the label
    # back), Ctrl+Shift+Z reverts again; each a new version, the shape kept throughout.
    page.keyboard.press("Control+z")
    wait_until(lambda: version() == relabelled + 2)
    assert api(page, "GET", url)["body"]["label"] == labels["cat"]
    page.keyboard.press("Control+Shift+z")
    wait_until(lambda: version() == relabelled + 3)
    assert api(page, "GET", url)["body"]["label"] == labels["background"]
    assert same(outer(), nudged, 1e-6)

    # N and P move between the project's images in place.
    page.keyboard.press("n")
    page.wait_for_function(
        f"window.annotator.state().imageId === {other.pk} && window.annotator.state().ready"
    )
    assert state(page)["annotations"] == []
    page.keyboard.press("p")
    page.wait_for_function(
        f"window.annotator.state().imageId === {image.pk} && window.annotator.state().ready"
    )
    assert state(page)["annotations"] == [saved["id"]]
    assert page.locator("#candidates li").count() == 0  # the SAM object stayed with its image

    # ? lists the tools' keys and gestures; Esc closes it.
    page.keyboard.press("?")
    help_text = page.inner_text("#help")
    assert "Polygon" in help_text and "Tab / Shift+Tab" in help_text and "Alt+click" in help_text
    assert "History" in help_text and "Enter reverts" in help_text
    shot(page, "annotate-help.png")
    page.keyboard.press("Escape")
    assert page.locator("#help").is_hidden()
