"""The manage area in Chromium, one manager's session end to end: create a project with labels,
add a member (and meet the last-owner guard), upload a zip and a file that is not an image
(progress to 100 %, the refusal listed in the API's words), assign the images, export them and
download the archive. And an annotator, who sees none of it and is refused the pages."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from tests import factories
from tests.browser.conftest import PASSWORD, login
from tests.conftest import ARTIFACTS_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MANAGE_PAGES = ("dashboard", "dataset", "jobs", "people", "settings")


def _person(name: str) -> Any:
    person = factories.user(name)
    person.set_password(PASSWORD)
    person.save()
    return person


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / name), full_page=True)


def _wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _tab(page: Any, name: str) -> None:
    """Open a manage page from the nav and wait until its script has wired the controls."""
    page.click(f"nav.manage-nav >> text={name}")
    page.wait_for_url(f"**/{name.lower()}/")
    page.wait_for_selector("#manage[data-ready]")


@pytest.fixture
def media(settings: Any, tmp_path: Path, no_broker: None) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No checkpoint file there, whatever a developer's var/ holds (the auto-annotate dialog
    # says whether the project's model is on the server).
    settings.SAM_CACHE_DIR = str(tmp_path / "checkpoints")


def test_a_manager_runs_a_project_from_the_browser(
    media: None, live_server: Any, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotator import queue, services
    from annotator.models import Image, Job, Project

    # Jobs are run below, in this thread, by the worker's code; the rest is not run at all.
    queued: list[int] = []
    monkeypatch.setattr(
        queue,
        "publish",
        lambda name, args, **options: queued.extend(args) if name == queue.JOB_RUN else None,
    )
    boss = _person("boss")
    ann = _person("ann")
    # Members are added among the people the adder may see (MEMBER_DIRECTORY=shared): boss and
    # ann already work together on another project.
    factories.project(owner=boss, name="Earlier survey").memberships.create(
        user=ann, role="annotator"
    )
    base = live_server.url
    login(page, base, "boss")

    # Create: name, description, two labels with colours, the model.
    page.click("#new-project-link")
    page.wait_for_selector("#new-project[data-ready]")
    page.fill("input[name=name]", "Harbour survey")
    page.fill("textarea[name=description]", "Boats and buoys")
    page.fill(".label-row >> nth=0 >> input[name=label-name]", "boat")
    page.click("#add-label")
    page.fill(".label-row >> nth=1 >> input[name=label-name]", "buoy")
    page.fill(".label-row >> nth=1 >> input[name=label-color]", "#123456")
    page.click("#new-project button[type=submit]")
    page.wait_for_url("**/dataset/")
    project = Project.objects.get(name="Harbour survey")
    assert [(lb.name, lb.color) for lb in project.labels.order_by("id")][1] == ("buoy", "#123456")

    # People: add by username; the last owner cannot step down, and the page says why.
    _tab(page, "People")
    page.fill("input[name=username]", "nobody")
    page.click("#member-add button[type=submit]")
    page.wait_for_selector("#messages .error")
    assert page.inner_text("#messages").startswith("Could not add nobody: No user you can add")
    page.fill("input[name=username]", "ann")
    page.click("#member-add button[type=submit]")
    page.wait_for_selector("#members tr[data-username=ann]")
    page.select_option("#members tr[data-username=boss] select", "viewer")
    page.wait_for_selector("#messages .error >> text=owner")
    assert "at least one owner" in page.inner_text("#messages")
    assert page.input_value("#members tr[data-username=boss] select") == "owner"
    _shot(page, "manage-people.png")

    # Dataset: a zip of three images and a file that is not an image, one request each.
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            z.writestr(f"boats/b{i}.png", _png(i))
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is text, not a PNG")
    _tab(page, "Dataset")
    page.set_input_files("#pick-files", [str(archive), str(bad)])
    page.wait_for_selector("#upload-summary[data-done=true]")
    assert page.eval_on_selector("#upload-overall", "e => e.value") == 1
    refused = page.inner_text("#uploads tr.refused")
    assert "notes.png" in refused and "Refused:" in refused, refused
    assert "added 3 image(s)" in page.inner_text("#uploads tr.added")
    page.wait_for_function("document.querySelectorAll('#images tbody tr').length === 3")

    # Assign every image to ann.
    page.check("#select-all")
    page.select_option("#assignees", label="ann (annotator)")
    page.click("#assign")
    page.wait_for_function(
        "[...document.querySelectorAll('#images td.assignee')].every(td => td.textContent === 'ann')"
    )
    ann_id = project.memberships.get(user__username="ann").user_id
    assert set(Image.objects.filter(project=project).values_list("assignee", flat=True)) == {ann_id}
    # Name search (a pause after typing, then the API's ?search=, a name prefix).
    page.fill("#filters input[name=search]", "b1")
    page.wait_for_function("document.querySelectorAll('#images tbody tr').length === 1")
    assert page.inner_text("#images tbody tr").count("b1.png") == 1
    _shot(page, "manage-dataset.png")

    # Jobs: a YOLO-seg export of the new images, run by the worker's code in this thread, and
    # downloaded from the list.
    _tab(page, "Jobs")
    page.click("#start-export")
    page.check("dialog input[name=format][value=yolo_seg]")
    page.check("dialog input[name=status][value=new]")
    page.check("dialog input[name=include_images]")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#jobs tr[data-kind=export]")
    # No worker computes embeddings here: all three wait, and the panel says so.
    assert page.inner_text("#embedding-line") == "0 of 3 images embedded · 3 waiting"
    _wait_until(lambda: bool(queued))
    job = Job.objects.get(pk=queued[0])
    assert job.params == {"format": "yolo_seg", "status": ["new"], "include_images": True}
    services.job_run(job=job)
    page.wait_for_selector("#jobs tr[data-status=done] a.download", timeout=20000)
    _shot(page, "manage-jobs.png")
    with page.expect_download() as download:
        page.click("#jobs a.download")
    with zipfile.ZipFile(download.value.path()) as z:
        names = set(z.namelist())
        data_yaml = z.read("data.yaml").decode()
    # One label file per image (named after the image, with its id in front for uniqueness).
    labels = sorted(n.rsplit("-", 1)[-1] for n in names if n.startswith("labels/train/"))
    assert labels == ["b0.txt", "b1.txt", "b2.txt"], names
    pictures = sorted(n.rsplit("-", 1)[-1] for n in names if n.startswith("images/train/"))
    assert pictures == ["b0.png", "b1.png", "b2.png"], names
    assert "boat" in data_yaml and "buoy" in data_yaml, data_yaml

    _tab(page, "Dashboard")
    page.wait_for_selector("#by-person tr[data-user-id]")
    page.wait_for_function(
        "/of 3 images/.test(document.getElementById('embedding-coverage').textContent)"
    )
    assert page.inner_text("#by-status tr[data-status=new]").split()[:2] == ["New", "3"]
    assert page.inner_text("#by-label").split()[:4] == ["boat", "0", "buoy", "0"]
    ann_row = page.inner_text(f"#by-person tr[data-user-id='{ann_id}']").split()
    assert ann_row[:3] == ["ann", "annotator", "3"], ann_row
    _shot(page, "manage-dashboard.png")

    _jobs_import_auto_annotate_cancel_retry(page, project, queued, tmp_path)


def _jobs_import_auto_annotate_cancel_retry(
    page: Any, project: Any, queued: list[int], tmp_path: Path
) -> None:
    """The jobs panel, after the export above: an import with its images checked by a dry run
    and then made, an auto-annotation on boxes from a file with parameters, and a job cancelled
    before it starts and retried."""
    from annotator import services
    from annotator.models import Annotation, Image, Job

    _tab(page, "Jobs")
    # COCO with a new image inside the zip, and one already uploaded (b0.png).
    coco = {
        "images": [
            {"id": 1, "file_name": "b0.png", "width": 32, "height": 24},
            {"id": 2, "file_name": "c.png", "width": 32, "height": 24},
        ],
        "categories": [{"id": 1, "name": "boat"}, {"id": 2, "name": "kayak"}],
        "annotations": [
            {"id": n, "image_id": n, "category_id": n, "bbox": [2, 2, 10, 10], "area": 100,
             "iscrowd": 0, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]}
            for n in (1, 2)
        ],
    }  # fmt: skip
    archive = tmp_path / "import.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("annotations.json", json.dumps(coco))
        z.writestr("images/c.png", _png(7))
    page.click("#start-import")
    page.set_input_files("dialog input[name=file]", str(archive))
    page.click("dialog button.dry-run")
    page.wait_for_selector("dialog .import-plan")
    plan = page.inner_text("dialog .import-plan")
    assert "Images: 1 new, 0 already in the project; 2 get annotations." in plan, plan
    assert "boat: 1" in plan and "kayak: 1" in plan and "Labels to create: kayak" in plan, plan
    assert page.get_attribute("dialog .import-plan", "data-problems") == "0"
    assert Image.objects.filter(project=project).count() == 3  # the dry run wrote nothing
    page.click("dialog button[type=submit]")
    page.wait_for_selector("dialog .import-result .done")
    assert "2 annotation(s) on 2 image(s); 1 image(s) added" in page.inner_text(
        "dialog .import-result"
    )
    page.click("dialog button:text('Close')")
    assert Image.objects.filter(project=project, original_name="c.png").exists()
    assert Annotation.objects.filter(image__project=project).count() == 2

    # Import again: an accepted image is left as it is, and the dialog says which and why.
    from tests import factories

    accepted = factories.set_status(
        Image.objects.get(project=project, original_name="c.png"), "accepted"
    )
    again = tmp_path / "again.json"
    again.write_text(json.dumps(coco))
    page.click("#start-import")
    page.set_input_files("dialog input[name=file]", str(again))
    page.click("dialog button[type=submit]")
    page.wait_for_selector("dialog .import-skipped li")
    result = page.inner_text("dialog .import-result")
    assert "Imported 1 annotation(s) on 1 image(s)" in result, result
    assert "c.png: The image is accepted" in result and "manager must reopen it" in result, result
    assert accepted.annotations.count() == 1  # the one the first import made
    page.click("dialog button:text('Close')")

    # Auto-annotate on boxes from a file, class ids kept, only class 1, at most 5 a picture.
    boxes = tmp_path / "boxes.zip"
    with zipfile.ZipFile(boxes, "w") as z:
        z.writestr("classes.txt", "boat\nbuoy\n")
        z.writestr("b1.txt", "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.25 0.5\n")
    seen = len(queued)
    page.click("#start-auto")
    page.wait_for_selector("dialog select[name=detector]")
    # Where the worker would find the project's model (GET /api/models): no file here.
    assert page.inner_text("dialog .model-note") == "SAM model: mobile_sam (fetched on first use)."
    page.set_input_files("dialog input[name=file]", str(boxes))
    page.fill("dialog .file-opts input[name=classes]", "1")
    page.fill("dialog .file-opts input[name=max_det]", "5")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#jobs tr[data-kind=auto_annotate]")
    _wait_until(lambda: len(queued) > seen)
    job = Job.objects.get(pk=queued[-1])
    b1 = Image.objects.get(project=project, original_name="b1.png")
    labels = dict(project.labels.values_list("name", "pk"))
    assert job.params["box_classes"] == {str(b1.pk): [0, 1]}
    assert job.params["class_labels"] == {"0": labels["boat"], "1": labels["buoy"]}
    assert (job.params["classes"], job.params["max_det"]) == ([1], 5)

    # That job waits for a worker: cancel it (it never starts), then retry it as a new job.
    row = f"#jobs tr[data-job-id='{job.pk}']"
    page.click(f"{row} button.cancel")
    page.wait_for_selector(f"{row}[data-status=cancelled]")
    assert "Cancelled before it started." in page.inner_text(row)
    assert services.job_run(job=Job.objects.get(pk=job.pk)).status == "cancelled"
    page.click(f"{row} button.retry")
    page.wait_for_selector("#messages >> text=runs again as job")
    again = Job.objects.get(retry_of=job)
    page.wait_for_selector(f"#jobs tr[data-job-id='{again.pk}'] >> text=retry of #{job.pk}")
    assert again.params == job.params and again.status == "pending"
    _shot(page, "manage-jobs-cancel-retry.png")

    # Find by text over the new and in-progress images: no worker has reported, and the
    # dialog says so before anything starts; annotations mode with a fallback label.
    seen = len(queued)
    page.click("#start-text")
    page.wait_for_selector("dialog .text-status")
    assert "text prompts unavailable: no worker" in page.inner_text("dialog .text-status")
    page.fill("dialog input[name=phrases]", " , ")
    page.click("dialog button[type=submit]")  # refused before any request, in words
    page.wait_for_selector("dialog [role=alert]:text('type what to find')")
    page.fill("dialog input[name=phrases]", "boat, ship")
    page.select_option("dialog select[name=engine]", "detector")
    page.check("dialog input[name=status][value=new]")
    page.check("dialog input[name=status][value=in_progress]")
    page.check("dialog input[name=mode][value=annotations]")
    page.click("dialog button[type=submit]")  # the server's refusal, in its words
    page.wait_for_selector("dialog [role=alert]:text('no label is named')")
    assert len(queued) == seen and not Job.objects.filter(kind="text").exists()
    page.fill("dialog input[name=phrases]", "boat, buoy,  boat")
    page.fill("dialog input[name=min_score]", "0.8")
    page.fill("dialog input[name=score_threshold]", "0.4")
    page.select_option("dialog select[name=label]", str(labels["buoy"]))
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#jobs tr[data-kind=text]")
    _wait_until(lambda: len(queued) > seen)
    text_job = Job.objects.get(pk=queued[-1])
    assert text_job.kind == "text" and text_job.status == "pending"
    assert text_job.params["phrases"] == ["boat", "buoy"]
    assert text_job.params["status"] == ["new", "in_progress"]
    assert (text_job.params["engine"], text_job.params["mode"]) == ("detector", "annotations")
    assert (text_job.params["min_score"], text_job.params["label"]) == (0.8, labels["buoy"])
    assert text_job.params["score_threshold"] == 0.4 and "mask_threshold" not in text_job.params
    assert "image_ids" not in text_job.params
    _shot(page, "manage-jobs-text.png")

    # Everything mode over the new images: the parameters come prefilled with the server's
    # defaults and bounded by its limits; the prompt budget is the server's to refuse, in its
    # words. A value left at its default stays out of the job's params.
    seen = len(queued)
    page.click("#start-everything")
    page.wait_for_selector("dialog input[name=points_per_side][value='16']")
    assert page.get_attribute("dialog input[name=points_per_side]", "max") == "128"
    page.check("dialog input[name=status][value=new]")
    page.fill("dialog input[name=points_per_side]", "128")
    page.fill("dialog input[name=crop_n_layers]", "3")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("dialog [role=alert]:text('JOB_MAX_EVERYTHING_PROMPTS')")
    assert len(queued) == seen
    _shot(page, "manage-jobs-everything.png")
    page.fill("dialog input[name=points_per_side]", "24")
    page.fill("dialog input[name=crop_n_layers]", "0")
    page.fill("dialog input[name=pred_iou_thresh]", "0.5")
    page.select_option("dialog select[name=label]", str(labels["boat"]))
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#jobs tr[data-kind=everything]")
    _wait_until(lambda: len(queued) > seen)
    read = page.evaluate("async (url) => (await fetch(url)).json()", f"/api/jobs/{queued[-1]}/")
    assert read["kind"] == "everything" and read["params"] == {
        "points_per_side": 24, "pred_iou_thresh": 0.5, "label": labels["boat"], "status": ["new"]
    }  # fmt: skip


def test_an_annotator_sees_no_management(media: None, live_server: Any, page: Any) -> None:
    from annotator.models import Role

    owner = _person("owner")
    project = factories.project(owner=owner, name="Fields")
    project.memberships.create(user=_person("ann"), role=Role.ANNOTATOR)
    base = live_server.url
    login(page, base, "ann")
    page.goto(f"{base}/projects/{project.pk}/")
    page.wait_for_selector("#count:not(:text('loading…'))")
    assert page.locator("#manage-links").count() == 0
    assert (
        page.locator("a[href*='/settings/'], a[href*='/people/'], a[href*='/jobs/']").count() == 0
    )
    for name in MANAGE_PAGES:
        response = page.goto(f"{base}/projects/{project.pk}/{name}/")
        assert response is not None and response.status == 403, name
    # The owner sees the links the annotator does not.
    page.context.clear_cookies()
    login(page, base, "owner")
    page.goto(f"{base}/projects/{project.pk}/")
    assert page.locator("#manage-links a").count() == len(MANAGE_PAGES)


def test_a_manager_reorders_assigns_on_a_filter_sees_thumbnails_and_archives(
    media: None, live_server: Any, page: Any
) -> None:
    from annotator.models import Image, Role

    boss = _person("boss")
    project = factories.project(owner=boss, name="Quay", labels=[("boat", "#ff0000"),
                                                                 ("buoy", "#00ff00")])  # fmt: skip
    ann, rev = _person("ann"), _person("rev")
    project.memberships.create(user=ann, role=Role.ANNOTATOR)
    project.memberships.create(user=rev, role=Role.REVIEWER)
    images = [factories.image(project, data=_png(i), name=f"q{i}.png") for i in range(5)]
    factories.set_status(images[4], "accepted")
    base = live_server.url
    login(page, base, "boss")

    # Settings: buoy moves up, and the annotation page's keys follow (the labels list order).
    page.goto(f"{base}/projects/{project.pk}/settings/")
    page.wait_for_selector("#labels tbody tr")
    page.click("#labels tbody tr >> nth=1 >> button.up")
    page.wait_for_selector("#messages >> text=Label order saved.")
    assert list(project.labels.values_list("name", flat=True)) == ["buoy", "boat"]
    assert page.inner_text("#labels tbody tr >> nth=0 >> .position") == "key 1"

    # Dataset: on everything with status New (4 images), round-robin over ann and rev.
    _tab(page, "Dataset")
    page.wait_for_function("document.querySelectorAll('#images tbody tr').length === 5")
    page.select_option("#filters select[name=status]", "new")
    page.wait_for_function("document.querySelectorAll('#images tbody tr').length === 4")
    page.check("#scope-matching")
    page.select_option("#assignees", label=["ann (annotator)", "rev (reviewer)"])
    page.click("#assign")
    page.wait_for_selector("#messages >> text=Assigned 4 image(s)")
    got = dict(Image.objects.filter(project=project).values_list("pk", "assignee_id"))
    assert [got[i.pk] for i in images] == [ann.pk, rev.pk, ann.pk, rev.pk, None]

    # The grid: every thumbnail decoded, served by the API.
    page.check("#view-grid")
    page.wait_for_function(
        "[...document.querySelectorAll('#grid img')].length === 4 && "
        "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    src = page.get_attribute("#grid img >> nth=0", "src")
    assert src is not None and src.endswith("/thumbnail")
    _shot(page, "manage-dataset-grid.png")

    # Archive: gone from the project list, listed under Archived, writes refused in words;
    # then unarchived and writable again.
    _tab(page, "Settings")
    page.wait_for_selector("#archive-toggle:not([disabled])")
    page.click("#archive-toggle")
    page.click("dialog.confirm button[type=submit]")
    page.wait_for_selector("body[data-archived=true]")
    page.fill("#label-add input[name=name]", "gull")
    page.click("#label-add button[type=submit]")
    page.wait_for_selector("#messages .error")
    assert "unarchive it in settings" in page.inner_text("#messages")
    page.goto(f"{base}/")
    page.wait_for_selector("#projects li:not(.muted), #projects li.muted")
    assert page.locator(f"#projects li[data-project-id='{project.pk}']").count() == 0
    page.click("#archived-link")
    page.wait_for_selector(f"#projects li[data-project-id='{project.pk}']")
    page.goto(f"{base}/projects/{project.pk}/settings/")
    page.wait_for_selector("#archive-toggle:not([disabled])")
    page.click("#archive-toggle")
    page.wait_for_selector("body[data-archived=false]")
    page.fill("#label-add input[name=name]", "gull")
    page.click("#label-add button[type=submit]")
    page.wait_for_selector("#labels tbody tr >> nth=2")
    assert list(project.labels.values_list("name", flat=True)) == ["buoy", "boat", "gull"]
