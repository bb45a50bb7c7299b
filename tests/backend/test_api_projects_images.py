"""Projects, members, labels and images beyond the role matrix: the rules each one keeps."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image as PILImage

from annotator import services
from annotator.models import Image, Job, Membership
from tests import factories


@pytest.mark.django_db
def test_creating_a_project_makes_the_caller_its_owner(client_for: Any) -> None:
    alice = factories.user()
    body = {"name": "Cells", "labels": [{"name": "nucleus", "color": "#00FF00"}]}
    response = client_for(alice).post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "owner"
    assert response.json()["labels"][0] == {
        "id": response.json()["labels"][0]["id"],
        "name": "nucleus",
        "color": "#00ff00",
        "kind": "object",
    }
    assert response.json()["sam_model"]["checkpoint"] == "mobile_sam"


@pytest.mark.django_db
def test_a_project_without_a_name_is_a_400(client_for: Any) -> None:
    response = client_for(factories.user()).post("/api/projects/", {"name": "  "}, format="json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_manager_cannot_appoint_a_manager_but_an_owner_can(
    project_with_roles: dict, client_for: Any
) -> None:
    url = f"/api/projects/{project_with_roles['project'].pk}/members/"
    newcomer = factories.user()
    # One the owner and the manager may see (MEMBER_DIRECTORY=shared), named as non-staff do.
    shared = factories.project(owner=project_with_roles["owner"])
    shared.memberships.create(user=project_with_roles["manager"], role="viewer")
    shared.memberships.create(user=newcomer, role="viewer")
    body = {"username": newcomer.username, "role": "manager"}
    assert (
        client_for(project_with_roles["manager"]).post(url, body, format="json").status_code == 400
    )
    assert client_for(project_with_roles["owner"]).post(url, body, format="json").status_code == 201


@pytest.mark.django_db
def test_the_last_owner_cannot_leave(project_with_roles: dict, client_for: Any) -> None:
    p, owner = project_with_roles["project"], project_with_roles["owner"]
    response = client_for(owner).delete(f"/api/projects/{p.pk}/members/{owner.pk}/")
    assert response.status_code == 409 and "owner" in response.json()["detail"]


@pytest.mark.django_db
def test_a_member_role_can_be_changed(project_with_roles: dict, client_for: Any) -> None:
    p, viewer = project_with_roles["project"], project_with_roles["viewer"]
    url = f"/api/projects/{p.pk}/members/{viewer.pk}/"
    response = client_for(project_with_roles["manager"]).patch(
        url, {"role": "annotator"}, format="json"
    )
    assert response.status_code == 200
    assert Membership.objects.get(project=p, user=viewer).role == "annotator"


@pytest.mark.django_db
def test_an_unknown_username_is_a_400(project_with_roles: dict, client_for: Any) -> None:
    url = f"/api/projects/{project_with_roles['project'].pk}/members/"
    response = client_for(project_with_roles["owner"]).post(
        url, {"username": "nobody", "role": "viewer"}, format="json"
    )
    assert response.status_code == 400 and "nobody" in response.json()["detail"]


@pytest.mark.django_db
def test_labels_are_unique_per_project_and_need_a_valid_colour(
    project_with_roles: dict, client_for: Any
) -> None:
    client = client_for(project_with_roles["manager"])
    url = f"/api/projects/{project_with_roles['project'].pk}/labels/"
    assert client.post(url, {"name": "cat"}, format="json").status_code == 409
    assert client.post(url, {"name": "bird", "color": "red"}, format="json").status_code == 400


@pytest.mark.django_db
def test_a_label_in_use_cannot_be_deleted(project_with_roles: dict, client_for: Any) -> None:
    image = factories.image(project_with_roles["project"])
    annotation = factories.annotation(image)
    url = f"/api/projects/{image.project_id}/labels/{annotation.label_id}/"
    assert client_for(project_with_roles["manager"]).delete(url).status_code == 409


@pytest.mark.django_db
def test_images_can_be_filtered_by_status_and_assignee(
    project_with_roles: dict, client_for: Any
) -> None:
    p = project_with_roles["project"]
    first, second = factories.image(p), factories.image(p)
    factories.set_status(second, "submitted")
    services.image_update(image=second, assignee=project_with_roles["annotator"])
    client = client_for(project_with_roles["viewer"])
    url = f"/api/projects/{p.pk}/images/"
    assert [i["id"] for i in client.get(url).json()["results"]] == [first.pk, second.pk]
    assert [i["id"] for i in client.get(url + "?status=submitted").json()["results"]] == [second.pk]
    ids = [
        i["id"]
        for i in client.get(url + f"?assignee={project_with_roles['annotator'].pk}").json()[
            "results"
        ]
    ]
    assert ids == [second.pk]


@pytest.mark.django_db
def test_an_assignee_must_be_a_member(project_with_roles: dict, client_for: Any) -> None:
    image = factories.image(project_with_roles["project"])
    body = {"assignee": project_with_roles["outsider"].pk}
    response = client_for(project_with_roles["manager"]).patch(
        f"/api/images/{image.pk}/", body, format="json"
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_the_image_file_is_the_normalised_rgb_image(
    project_with_roles: dict, client_for: Any
) -> None:
    grey = io.BytesIO()
    PILImage.new("L", (10, 7), 128).save(grey, format="PNG")
    image = factories.image(project_with_roles["project"], data=grey.getvalue())
    response = client_for(project_with_roles["viewer"]).get(f"/api/images/{image.pk}/file")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    stored = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert stored.mode == "RGB" and stored.size == (10, 7)


@pytest.mark.django_db
def test_deleting_an_image_removes_its_annotations_and_file(
    project_with_roles: dict, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    image = factories.image(project_with_roles["project"])
    factories.annotation(image)
    storage, name = image.file.storage, image.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(project_with_roles["manager"]).delete(f"/api/images/{image.pk}/")
    assert response.status_code == 204
    assert not Image.objects.filter(pk=image.pk).exists() and not storage.exists(name)


@pytest.mark.django_db
def test_ids_of_another_project_answer_404_not_403(
    project_with_roles: dict, client_for: Any
) -> None:
    foreign_image = factories.image(factories.project())
    foreign_annotation = factories.annotation(foreign_image)
    client = client_for(project_with_roles["owner"])
    for url in (
        f"/api/images/{foreign_image.pk}/",
        f"/api/images/{foreign_image.pk}/file",
        f"/api/images/{foreign_image.pk}/embedding",
        f"/api/annotations/{foreign_annotation.pk}/",
        f"/api/projects/{foreign_image.project_id}/images/",
    ):
        assert client.get(url).status_code == 404, url
    body = {"image": foreign_image.pk, "create": []}
    assert client.post("/api/annotations/bulk", body, format="json").status_code == 404


@pytest.mark.django_db
def test_an_export_job_writes_coco_with_every_annotation(project_with_roles: dict) -> None:
    image = factories.image(project_with_roles["project"])
    factories.annotation(image)
    job = services.job_create(
        project=image.project, kind="export", created_by=project_with_roles["owner"]
    )
    job = services.job_run(job=job)
    assert job.status == Job.Status.DONE, job.error
    coco = json.loads(job.result.read())
    assert len(coco["images"]) == 1 and len(coco["annotations"]) == 1
    assert coco["categories"][0]["name"] == "cat"
    job.refresh_from_db()
    assert (job.done, job.total) == (1, 1)


@pytest.mark.django_db
def test_an_export_result_is_downloadable_by_members(
    project_with_roles: dict, client_for: Any
) -> None:
    job = services.job_create(
        project=project_with_roles["project"], kind="export", created_by=project_with_roles["owner"]
    )
    services.job_run(job=job)
    client = client_for(project_with_roles["viewer"])
    body = client.get(f"/api/jobs/{job.pk}/").json()
    assert body["status"] == "done" and body["result_url"] == f"/api/jobs/{job.pk}/result"
    response = client.get(body["result_url"])
    assert response.status_code == 200 and b"categories" in b"".join(response.streaming_content)


@pytest.mark.django_db
def test_unavailable_job_kinds_and_formats_are_a_400(
    project_with_roles: dict, client_for: Any
) -> None:
    client = client_for(project_with_roles["manager"])
    p = project_with_roles["project"]
    assert (
        client.post(
            f"/api/projects/{p.pk}/jobs/",
            {"kind": "everything", "params": {"label": 999999}},
            format="json",
        ).status_code
        == 400
    )
    assert (
        client.post(f"/api/projects/{p.pk}/exports/", {"format": "voc"}, format="json").status_code
        == 400
    )


@pytest.mark.django_db
def test_the_openapi_schema_and_docs_are_served(client_for: Any) -> None:
    client = client_for(factories.user())
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/images/{id}/predict" in paths and "/api/annotations/bulk" in paths
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("fmt", "member"), [("yolo_seg", "labels/"), ("masks", "labels.json")])
def test_yolo_and_mask_exports_are_zips(project_with_roles: dict, fmt: str, member: str) -> None:
    import zipfile

    image = factories.image(project_with_roles["project"])
    factories.annotation(image)
    job = services.job_create(
        project=image.project,
        kind="export",
        created_by=project_with_roles["owner"],
        params={"format": fmt},
    )
    job = services.job_run(job=job)
    assert job.status == Job.Status.DONE, job.error
    names = zipfile.ZipFile(io.BytesIO(job.result.read())).namelist()
    assert any(name.startswith(member) for name in names)


@pytest.mark.django_db
def test_an_everything_job_goes_to_the_gpu_queue(
    project_with_roles: dict,
    client_for: Any,
    no_broker: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    p = project_with_roles["project"]
    body = {"kind": "everything", "params": {"label": p.labels.first().pk}}
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(project_with_roles["manager"]).post(
            f"/api/projects/{p.pk}/jobs/", body, format="json"
        )
    assert response.status_code == 202, response.content
    assert no_broker[-1] == ("job_run_task", (response.json()["id"],), {"queue": "gpu"})


@pytest.mark.django_db
@pytest.mark.slow
def test_an_everything_job_turns_sam_masks_into_proposals(
    project_with_roles: dict, reference_dir: Any
) -> None:
    owner = project_with_roles["owner"]
    project = factories.project(
        owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth")
    )
    image = factories.image(project, data=(reference_dir / "chelsea.png").read_bytes())
    params = {"label": project.labels.first().pk, "points_per_side": 4, "pred_iou_thresh": 0.0,
              "stability_score_thresh": 0.0}  # fmt: skip
    job = services.job_create(project=project, kind="everything", created_by=owner, params=params)
    job = services.job_run(job=job)
    assert job.status == Job.Status.DONE, job.error
    # Nothing becomes an annotation unasked: every mask waits as a proposal.
    assert not image.annotations.exists()
    proposals = list(image.proposals.all())
    assert proposals and all(
        p.source == "everything" and p.status == "pending" and p.score is not None
        and p.job_id == job.pk and p.label_id == params["label"]
        for p in proposals
    )  # fmt: skip
    kept = services.proposal_keep(proposal=proposals[0], user=owner)
    assert kept.source == "auto" and kept.prompts["mode"] == "everything"
    job.refresh_from_db()
    assert (job.done, job.total) == (1, 1)


@pytest.mark.django_db
def test_a_review_keeps_the_decision_and_the_comment(
    project_with_roles: dict, client_for: Any
) -> None:
    image = factories.image(project_with_roles["project"])
    client = client_for(project_with_roles["reviewer"])
    url = f"/api/images/{image.pk}/review"
    assert (
        client.post(url, {"decision": "accept"}, format="json").status_code == 409
    )  # not submitted
    factories.set_status(image, "submitted")
    response = client.post(
        url, {"decision": "reject", "comment": "the tail is missing"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "rejected" and body["review_comment"] == "the tail is missing"
    assert body["reviewed_by"] == project_with_roles["reviewer"].pk


@pytest.mark.django_db
def test_next_image_prefers_own_assignments_and_skips_others_and_locked_ones(
    project_with_roles: dict, client_for: Any
) -> None:
    p, me, other = (
        project_with_roles["project"],
        project_with_roles["annotator"],
        project_with_roles["reviewer"],
    )
    free, theirs, mine, locked, done = (factories.image(p) for _ in range(5))
    services.image_update(image=theirs, assignee=other)
    services.image_update(image=mine, assignee=me)
    services.image_lock(image=locked, user=other)
    factories.set_status(done, "accepted")
    client = client_for(me)
    url = f"/api/projects/{p.pk}/next-image"
    assert client.get(url).json()["id"] == mine.pk
    assert client.get(url + f"?after={free.pk}").json()["id"] == mine.pk
    assert client.get(url + f"?after={mine.pk}").json()["id"] == free.pk  # wraps around
    factories.set_status(free, "submitted")
    factories.set_status(mine, "submitted")
    assert client.get(url).status_code == 204


@pytest.mark.django_db
def test_the_image_list_searches_filters_and_sorts(
    project_with_roles: dict, client_for: Any
) -> None:
    from annotator.models import Embedding

    p = project_with_roles["project"]
    cat, dog = p.labels.order_by("id")
    boat, buoy, pier = (
        factories.image(p, data=factories.png_bytes(seed=i), name=n)
        for i, n in enumerate(["Boat-1.png", "buoy.png", "pier.png"])
    )
    factories.annotation(boat, label=cat)
    factories.annotation(boat, label=cat)
    factories.annotation(buoy, label=dog)
    services.image_update(image=pier, assignee=project_with_roles["annotator"])
    Embedding.objects.filter(image=buoy).delete()
    Embedding.objects.update_or_create(
        image=boat, sam_model=p.sam_model, defaults={"status": "ready"}
    )
    client = client_for(project_with_roles["viewer"])
    url = f"/api/projects/{p.pk}/images/"

    def ids(query: str) -> list[int]:
        response = client.get(url + query)
        assert response.status_code == 200, response.content
        return [i["id"] for i in response.json()["results"]]

    assert ids("?search=BOAT") == [boat.pk]
    # One row per image, whatever its number of annotations with the label.
    assert ids(f"?label={cat.pk}") == [boat.pk]
    assert client.get(url + f"?label={cat.pk}").json()["results"][0]["annotation_count"] == 2
    assert ids("?embedding=ready") == [boat.pk]
    assert ids("?embedding=none") == [buoy.pk]
    assert ids("?unassigned=true") == [boat.pk, buoy.pk]
    assert ids("?ordering=-name") == [pier.pk, buoy.pk, boat.pk]
    for bad in ("?ordering=password", "?embedding=maybe", f"?search={'x' * 256}", "?label=0"):
        response = client.get(url + bad)
        assert response.status_code == 400 and response.json()["detail"], bad


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fmt", "result", "image_dir"),
    [("coco", "coco.zip", "images/"), ("yolo_seg", "yolo_seg.zip", "images/train/"),
     ("masks", "masks.zip", "images/")],
)  # fmt: skip
def test_an_export_may_carry_the_images(
    project_with_roles: dict, client_for: Any, fmt: str, result: str, image_dir: str
) -> None:
    import zipfile

    p = project_with_roles["project"]
    image = factories.image(p, name="dock.png")
    factories.annotation(image)
    client = client_for(project_with_roles["manager"])
    body = {"format": fmt, "include_images": True}
    response = client.post(f"/api/projects/{p.pk}/exports/", body, format="json")
    assert response.status_code == 202, response.content
    job = services.job_run(job=Job.objects.get(pk=response.json()["id"]))
    assert job.status == Job.Status.DONE, job.error
    assert job.result.name.rsplit("/", 1)[-1].startswith(result.split(".")[0])
    archive = zipfile.ZipFile(io.BytesIO(job.result.read()))
    stored = [n for n in archive.namelist() if n.startswith(image_dir)]
    assert len(stored) == 1 and stored[0].endswith("dock.png"), archive.namelist()
    with image.file.open("rb") as f:
        assert archive.read(stored[0]) == f.read()
    if fmt == "coco":
        coco = json.loads(archive.read("annotations_coco.json"))
        assert image_dir + coco["images"][0]["file_name"] == stored[0]
    bad = client.post(
        f"/api/projects/{p.pk}/jobs/",
        {"kind": "export", "params": {"include_images": "yes"}},
        format="json",
    )
    assert bad.status_code == 400 and "include_images" in bad.json()["detail"]


@pytest.mark.django_db
def test_project_stats_count_images_embeddings_labels_and_work(
    project_with_roles: dict, client_for: Any
) -> None:
    from annotator.models import Embedding

    p = project_with_roles["project"]
    annotator = project_with_roles["annotator"]
    cat, dog = p.labels.order_by("id")
    first, second = factories.image(p), factories.image(p)
    factories.annotation(first, label=cat, by=annotator)
    factories.annotation(first, label=cat)
    services.image_update(image=first, assignee=annotator)
    factories.set_status(first, "submitted")
    services.image_update(image=second, assignee=annotator)
    Embedding.objects.filter(image=second).delete()
    Embedding.objects.filter(image=first).update(status="ready")
    body = client_for(project_with_roles["viewer"]).get(f"/api/projects/{p.pk}/stats/").json()
    assert body["images"] == 2 and body["annotations"] == 2
    assert body["by_status"] == {
        "new": 1, "in_progress": 0, "submitted": 1, "accepted": 0, "rejected": 0,
    }  # fmt: skip
    assert body["embeddings"]["ready"] == 1 and body["embeddings"]["none"] == 1
    assert [(lb["name"], lb["count"]) for lb in body["by_label"]] == [("cat", 2), ("dog", 0)]
    person = next(x for x in body["people"] if x["username"] == "annotator")
    assert (person["assigned"], person["submitted"], person["annotations"]) == (2, 1, 1)
