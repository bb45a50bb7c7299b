"""The manage area's settings and dataset routes: the labels' order (the list, the annotation
page's keys and the exports follow it), archiving (every write refused with 409 but the
export, the unarchiving and the deletion), bulk actions on a filter (round-robin included),
thumbnails behind the image permission with immutable caching, and work time in the stats."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image as PILImage

from annotator import services
from annotator.models import Annotation, Embedding, Image, Job, Label, ReviewEvent
from tests import factories


def _label_names(client: Any, project: Any) -> list[str]:
    body = client.get(f"/api/projects/{project.pk}/labels/").json()
    return [row["name"] for row in body["results"]]


@pytest.mark.django_db
def test_a_manager_reorders_labels_and_every_list_follows(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    manager = client_for(project_with_roles["manager"])
    bird = services.label_create(project=project, name="bird", color="#0000ff")
    cat, dog = project.labels.get(name="cat"), project.labels.get(name="dog")
    assert _label_names(manager, project) == ["cat", "dog", "bird"]

    moved = manager.put(
        f"/api/projects/{project.pk}/labels/order", {"label_ids": [bird.pk, dog.pk]}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert [row["name"] for row in moved.json()] == ["bird", "dog", "cat"]
    # The label list (the annotation page's 1-9 keys follow it), the project's labels and the
    # COCO categories all read the new order.
    assert _label_names(manager, project) == ["bird", "dog", "cat"]
    project_body = manager.get(f"/api/projects/{project.pk}/").json()
    assert [row["name"] for row in project_body["labels"]] == ["bird", "dog", "cat"]
    factories.annotation(factories.image(project), label=cat)
    _, body = services.dataset_export(project=project, params={"format": "coco"})
    categories = json.loads(body)["categories"]
    assert [c["name"] for c in categories] == ["bird", "dog", "cat"]
    # A label added afterwards goes last.
    services.label_create(project=project, name="fish", color="#00ffff")
    assert _label_names(manager, project)[-1] == "fish"


@pytest.mark.django_db
def test_label_order_refuses_foreign_and_repeated_ids(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    other = factories.project()
    manager = client_for(project_with_roles["manager"])
    url = f"/api/projects/{project.pk}/labels/order"
    cat = project.labels.get(name="cat")
    foreign = other.labels.first()
    for ids in ([foreign.pk], [cat.pk, cat.pk]):
        refused = manager.put(url, {"label_ids": ids}, format="json")
        assert refused.status_code == 400, refused.json()
        assert "at most once" in refused.json()["detail"]
    assert list(Label.objects.filter(project=project).values_list("order", flat=True)) == [0, 1]
    annotator = client_for(project_with_roles["annotator"])
    assert annotator.put(url, {"label_ids": [cat.pk]}, format="json").status_code == 403


@pytest.mark.django_db
def test_an_archived_project_refuses_writes_but_reads_and_exports(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    image = factories.image(project)
    annotation = factories.annotation(image)
    manager = client_for(project_with_roles["manager"])
    annotator = client_for(project_with_roles["annotator"])
    archived = manager.patch(f"/api/projects/{project.pk}/", {"archived": True}, format="json")
    assert archived.status_code == 200 and archived.json()["archived_at"]

    # Out of the default list, in the archived one.
    assert project.pk not in [p["id"] for p in manager.get("/api/projects/").json()["results"]]
    shown = manager.get("/api/projects/?archived=true").json()["results"]
    assert [p["id"] for p in shown] == [project.pk]

    writes = [
        (manager, "patch", f"/api/projects/{project.pk}/", {"description": "x"}),
        (manager, "post", f"/api/projects/{project.pk}/labels/", {"name": "bird"}),
        (manager, "post", f"/api/projects/{project.pk}/images/bulk",
         {"action": "delete", "filters": {}}),
        (manager, "delete", f"/api/images/{image.pk}/", None),
        (annotator, "post", f"/api/images/{image.pk}/lock", None),
        (annotator, "delete", f"/api/annotations/{annotation.pk}/", None),
        (annotator, "post", f"/api/images/{image.pk}/annotations/",
         {"label": annotation.label_id, "polygons": factories.square(1, 1, 5)}),
    ]  # fmt: skip
    for client, method, url, body in writes:
        answer = getattr(client, method)(url, body, format="json")
        assert answer.status_code == 409, (url, answer.status_code)
        assert "unarchive it in settings" in answer.json()["detail"]
    assert Image.objects.filter(pk=image.pk).exists()
    assert Annotation.objects.filter(pk=annotation.pk).exists()

    # Reads and exports go on.
    assert annotator.get(f"/api/images/{image.pk}/annotations/").status_code == 200
    assert annotator.get(f"/api/images/{image.pk}/file").status_code == 200
    export = manager.post(f"/api/projects/{project.pk}/exports/", {"format": "coco"}, format="json")
    assert export.status_code == 202, export.json()
    bulk_export = manager.post(
        f"/api/projects/{project.pk}/images/bulk", {"action": "export", "filters": {}},
        format="json",
    )  # fmt: skip
    assert bulk_export.status_code == 202, bulk_export.json()
    jobs = f"/api/projects/{project.pk}/jobs/"
    job_export = manager.post(jobs, {"kind": "export", "params": {}}, format="json")
    assert job_export.status_code == 202, job_export.json()
    everything = manager.post(jobs, {"kind": "everything", "params": {}}, format="json")
    assert everything.status_code == 409, everything.json()

    # Unarchiving is the one settings write that gets through; then writes work again.
    back = manager.patch(f"/api/projects/{project.pk}/", {"archived": False}, format="json")
    assert back.status_code == 200 and back.json()["archived_at"] is None
    assert annotator.post(f"/api/images/{image.pk}/lock").status_code == 200


@pytest.mark.django_db
def test_an_owner_deletes_an_archived_project(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    services.project_archive(project=project, archived=True)
    owner = client_for(project_with_roles["owner"])
    assert owner.delete(f"/api/projects/{project.pk}/").status_code == 204


@pytest.mark.django_db
def test_bulk_assign_on_a_filter_goes_round_robin_in_upload_order(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    ann, rev = project_with_roles["annotator"], project_with_roles["reviewer"]
    images = [factories.image(project, name=f"img{i}.png") for i in range(7)]
    factories.set_status(images[5], "accepted")  # outside the filter: left alone
    manager = client_for(project_with_roles["manager"])

    answer = manager.post(
        f"/api/projects/{project.pk}/images/bulk",
        {"action": "assign", "filters": {"status": "new"}, "assignees": [ann.pk, rev.pk]},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "action": "assign", "matched": 6, "assigned": {str(ann.pk): 3, str(rev.pk): 3},
    }  # fmt: skip
    got = dict(Image.objects.filter(project=project).values_list("pk", "assignee_id"))
    expected = [ann.pk, rev.pk, ann.pk, rev.pk, ann.pk, None, rev.pk]
    assert [got[i.pk] for i in images] == expected

    # A selection narrows the filter; null assigns nobody.
    answer = manager.post(
        f"/api/projects/{project.pk}/images/bulk",
        {"action": "assign", "filters": {"assignee": ann.pk}, "image_ids": [images[0].pk],
         "assignees": [None]},
        format="json",
    )  # fmt: skip
    assert answer.json()["matched"] == 1
    assert Image.objects.get(pk=images[0].pk).assignee_id is None
    assert Image.objects.get(pk=images[2].pk).assignee_id == ann.pk


@pytest.mark.django_db
def test_bulk_refuses_a_non_member_and_an_unscoped_body_with_nothing_written(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    image = factories.image(project)
    manager = client_for(project_with_roles["manager"])
    url = f"/api/projects/{project.pk}/images/bulk"
    stranger = factories.user("stranger")
    annotator = project_with_roles["annotator"]
    refused = manager.post(
        url, {"action": "assign", "filters": {}, "assignees": [annotator.pk, stranger.pk]},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 400 and "not a member" in refused.json()["detail"]
    unscoped = manager.post(url, {"action": "delete"}, format="json")
    assert unscoped.status_code == 400 and "filters" in unscoped.json()["detail"]
    assert Image.objects.get(pk=image.pk).assignee_id is None


@pytest.mark.django_db
def test_bulk_over_the_bound_is_refused_before_any_write(
    project_with_roles: dict[str, Any], client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotator.services import dataset

    monkeypatch.setattr(dataset, "BULK_MAX_IMAGES", 2)
    project = project_with_roles["project"]
    for i in range(3):
        factories.image(project, name=f"b{i}.png")
    manager = client_for(project_with_roles["manager"])
    refused = manager.post(
        f"/api/projects/{project.pk}/images/bulk", {"action": "delete", "filters": {}},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 413 and "narrow it" in refused.json()["detail"]
    assert project.images.count() == 3


@pytest.mark.django_db
def test_bulk_recompute_delete_and_export_act_on_the_label_filter(
    project_with_roles: dict[str, Any],
    client_for: Any,
    no_broker: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    project = project_with_roles["project"]
    cat = project.labels.get(name="cat")
    tagged = [factories.image(project, name=f"t{i}.png") for i in range(3)]
    plain = factories.image(project, name="plain.png")
    for image in tagged:
        factories.annotation(image, label=cat)
    Embedding.objects.filter(image=tagged[0]).update(status="ready")
    Embedding.objects.filter(image=tagged[1]).delete()
    manager = client_for(project_with_roles["manager"])
    url = f"/api/projects/{project.pk}/images/bulk"
    on_cat = {"filters": {"label": cat.pk}}
    no_broker.clear()

    with django_capture_on_commit_callbacks(execute=True):
        recompute = manager.post(url, {"action": "recompute", **on_cat}, format="json")
    assert recompute.json() == {"action": "recompute", "matched": 3, "enqueued": 3}
    rows = Embedding.objects.filter(image__in=tagged, sam_model_id=project.sam_model_id)
    assert sorted(rows.values_list("status", flat=True)) == ["pending"] * 3
    enqueued = sorted(pk for task in no_broker for pk in task[1][0])
    assert enqueued == sorted(rows.values_list("pk", flat=True))
    assert all(rows.values_list("queued_at", flat=True))  # recorded, so no sweep re-sends them

    export = manager.post(url, {"action": "export", **on_cat, "export": {"format": "yolo_seg"}},
                          format="json")  # fmt: skip
    assert export.status_code == 202, export.json()
    job = Job.objects.get(pk=export.json()["job"])
    assert job.params["image_ids"] == [i.pk for i in tagged] and job.params["format"] == "yolo_seg"

    deleted = manager.post(url, {"action": "delete", **on_cat}, format="json")
    assert deleted.json() == {"action": "delete", "matched": 3, "deleted": 3}
    assert list(project.images.values_list("pk", flat=True)) == [plain.pk]
    assert not Annotation.objects.filter(image__project=project).exists()


def _thumbnail_url(image: Image) -> str:
    return f"/api/images/{image.pk}/thumbnail"


@pytest.mark.django_db
def test_a_thumbnail_is_made_once_and_cached_for_members_only(
    project_with_roles: dict[str, Any], client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    project = project_with_roles["project"]
    image = factories.image(project, data=factories.png_bytes(1024, 512))
    viewer = client_for(project_with_roles["viewer"])
    first = viewer.get(_thumbnail_url(image))
    assert first.status_code == 200 and first["Content-Type"] == "image/webp"
    assert first["Cache-Control"] == "private, max-age=31536000, immutable"
    with PILImage.open(io.BytesIO(first.content)) as thumb:
        assert thumb.size == (256, 128)
    storage = image.file.storage
    name = f"projects/{project.pk}/thumbs/{image.sha256}-256.webp"
    assert storage.exists(name)
    made = storage.get_modified_time(name)
    again = viewer.get(_thumbnail_url(image))
    assert again.content == first.content and storage.get_modified_time(name) == made
    revalidated = viewer.get(_thumbnail_url(image), HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 304

    outsider = client_for(project_with_roles["outsider"])
    assert outsider.get(_thumbnail_url(image)).status_code == 404
    # The thumbnail goes with its image, once the delete commits.
    with django_capture_on_commit_callbacks(execute=True):
        client_for(project_with_roles["manager"]).delete(f"/api/images/{image.pk}/")
    assert not storage.exists(name)


@pytest.mark.django_db
def test_stats_give_each_members_work_time_from_their_actions(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    annotator = project_with_roles["annotator"]
    image = factories.image(project)
    start = timezone.now() - timedelta(hours=2)
    # Three annotations 60 s apart, then one after a 20-minute break (not counted), then a
    # submit 30 s later: 60 + 60 + 30 = 150 s of work over 5 actions.
    for offset in (0, 60, 120, 1320):
        made = factories.annotation(image, by=annotator)
        Annotation.objects.filter(pk=made.pk).update(created_at=start + timedelta(seconds=offset))
    # (The first annotation also recorded a "start" step now; this test sets its own.)
    ReviewEvent.objects.filter(image=image).delete()
    event = ReviewEvent.objects.create(
        image=image, user=annotator, action="submit", from_status="in_progress",
        to_status="submitted",
    )  # fmt: skip
    ReviewEvent.objects.filter(pk=event.pk).update(created_at=start + timedelta(seconds=1350))

    stats = client_for(project_with_roles["viewer"]).get(f"/api/projects/{project.pk}/stats/")
    assert stats.status_code == 200, stats.json()
    person = next(p for p in stats.json()["people"] if p["user"] == annotator.pk)
    assert person["actions"] == 5 and person["seconds"] == 150
    idle = next(p for p in stats.json()["people"] if p["user"] == project_with_roles["viewer"].pk)
    assert idle["actions"] == 0 and idle["seconds"] == 0


@pytest.mark.django_db
def test_the_image_rows_fast_path_writes_what_drfs_fields_write(
    project_with_roles: dict[str, Any],
) -> None:
    from rest_framework import serializers as drf

    from annotator.api.serializers import ImageSerializer

    project = project_with_roles["project"]
    image = factories.image(project)
    services.image_update(image=image, assignee=project_with_roles["annotator"])
    Image.objects.filter(pk=image.pk).update(
        locked_until=timezone.now(), reviewed_at=timezone.now() - timedelta(days=1)
    )
    image = Image.objects.get(pk=image.pk)
    image.annotation_count = 3  # type: ignore[attr-defined]
    for context in ({}, {"embedding_statuses": {image.pk: "ready"}}):
        fast = ImageSerializer(image, context=context).data
        slow = drf.ModelSerializer.to_representation(ImageSerializer(context=context), image)
        assert dict(fast) == dict(slow)
    image.locked_until = None
    del image.annotation_count  # type: ignore[attr-defined]
    fast = ImageSerializer(image).data
    slow = drf.ModelSerializer.to_representation(ImageSerializer(), image)
    assert dict(fast) == dict(slow) and fast["annotation_count"] is None
