"""The project settings' shapes in Chromium: a manager adds an image tag label and label
attributes (a checkbox for every object label, a choice list for one label), edits one and
deletes one, and the API holds exactly that."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.browser.conftest import login
from tests.browser.test_manage_pages import _person, _wait_until, media  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_defines_tags_and_attributes_in_the_settings(
    media: None,  # noqa: F811
    live_server: Any,
    page: Any,
) -> None:
    from annotator.models import Attribute

    boss = _person("boss")
    project = factories.project(owner=boss, name="Harbour")
    boat = project.labels.get(name="cat")
    login(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.wait_for_selector("#manage[data-ready]")
    page.wait_for_selector(
        f"#attribute-add select[name=label] option[value='{boat.pk}']", state="attached"
    )

    # An image tag label: listed with its kind, and no choice for attributes.
    page.fill("#label-add input[name=name]", "foggy")
    page.select_option("#label-add select[name=kind]", "tag")
    page.click("#label-add button[type=submit]")
    _wait_until(lambda: project.labels.filter(name="foggy", kind="tag").exists())
    page.wait_for_selector("#labels tbody tr:has-text('image tag')")

    # A checkbox for every object label, then a choice list for one label, with a default.
    page.fill("#attribute-add input[name=name]", "occluded")
    page.select_option("#attribute-add select[name=type]", "checkbox")
    page.click("#attribute-add button[type=submit]")
    page.wait_for_selector("#attributes tbody tr:has-text('every object label')")
    page.fill("#attribute-add input[name=name]", "pose")
    page.select_option("#attribute-add select[name=type]", "select")
    page.select_option("#attribute-add select[name=label]", str(boat.pk))
    page.fill("#attribute-add input[name=choices]", "front, side, back")
    page.fill("#attribute-add input[name=default]", "side")
    page.click("#attribute-add button[type=submit]")
    _wait_until(lambda: Attribute.objects.filter(name="pose").exists())
    pose = Attribute.objects.get(name="pose")
    assert (pose.type, pose.label_id, pose.choices, pose.default) == (
        "select", boat.pk, ["front", "side", "back"], "side")  # fmt: skip

    # A default outside the choices is refused in the server's words; a valid edit is saved.
    row = f"#attributes tr[data-attribute-id='{pose.pk}']"
    page.fill(f"{row} input[aria-label='default of pose']", "upside down")
    page.click(f"{row} >> text=Save")
    page.wait_for_selector("#messages .error")
    assert "takes one of 'front', 'side', 'back'" in page.inner_text("#messages")
    page.fill(f"{row} input[aria-label='default of pose']", "back")
    page.click(f"{row} >> text=Save")
    _wait_until(lambda: Attribute.objects.get(pk=pose.pk).default == "back")

    # Deleting asks first.
    occluded = Attribute.objects.get(name="occluded")
    page.click(f"#attributes tr[data-attribute-id='{occluded.pk}'] >> text=Delete…")
    page.click("dialog.confirm button[value=ok]")
    _wait_until(lambda: not Attribute.objects.filter(pk=occluded.pk).exists())
    assert list(project.attributes.values_list("name", flat=True)) == ["pose"]
