"""Text-prompt jobs over REST: what is refused (with which status and words), what is queued,
and the status the workers report. No model runs here (tests/text runs the jobs)."""

from __future__ import annotations

from typing import Any

import pytest

from annotator import services
from annotator.models import Job
from tests import factories


@pytest.fixture
def setup(project_with_roles: dict[str, Any]) -> dict[str, Any]:
    project = project_with_roles["project"]
    image = factories.image(project)
    other = factories.project(owner=project_with_roles["outsider"])
    return {**project_with_roles, "image": image, "foreign": factories.image(other)}


def post(client_for: Any, user: Any, project: Any, body: dict[str, Any]) -> Any:
    return client_for(user).post(f"/api/projects/{project.pk}/text-jobs/", body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"phrases": []}, "non-empty list"),
        ({"phrases": ["  "]}, "Phrase 0 is empty"),
        ({"phrases": ["cup", ""]}, "Phrase 1 is empty"),
        ({"phrases": ["cup"] * 1000}, "1000 phrases given; at most 16"),
        ({"phrases": ["x" * 101]}, "Phrase 0 is 101 characters; at most 100"),
        ({"phrases": "cup"}, "phrases"),
        ({"phrases": ["cup"], "engine": "yolo"}, "engine"),
        ({"phrases": ["cup"], "score_threshold": 2}, "score_threshold"),
        ({"phrases": ["cup"], "label": 999999}, "not a label of this project"),
        ({"phrases": ["cup"], "mode": "annotations"}, "no label is named 'cup'"),
        ({"phrases": ["cup"], "engine": "detector", "mask_threshold": 0.4}, "sam3 engine"),
    ],
    ids=["none", "blank", "second blank", "1000", "long", "a string", "engine", "threshold",
         "label", "annotations unlabelled", "mask threshold"],
)  # fmt: skip
def test_bad_phrases_and_params_are_a_400_that_names_them(
    setup: dict[str, Any], client_for: Any, body: dict[str, Any], fragment: str
) -> None:
    response = post(client_for, setup["manager"], setup["project"], body)
    assert response.status_code == 400, response.content
    assert fragment in response.json()["detail"], response.json()
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_another_projects_image_ids_are_a_400(setup: dict[str, Any], client_for: Any) -> None:
    body = {"phrases": ["cup"], "image_ids": [setup["image"].pk, setup["foreign"].pk]}
    response = post(client_for, setup["manager"], setup["project"], body)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail == f"`image_ids`: {setup['foreign'].pk} is not an image of this project."
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_manager_starts_a_job_over_the_project_with_defaults_filled_in(
    setup: dict[str, Any],
    client_for: Any,
    no_broker: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    project = setup["project"]
    body = {"phrases": [" red  mug ", "Cat", "cat"], "score_threshold": 0.2}
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for, setup["manager"], project, body)
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "text" and job.status == "pending"
    # Spaces folded, a repeat (ignoring case) dropped; no worker reported: sam3 by default.
    assert job.params == {
        "phrases": ["red mug", "Cat"], "score_threshold": 0.2, "engine": "sam3",
        "mode": "proposals",
    }  # fmt: skip
    assert response.json()["summary"] == {}
    # Text jobs load a model: they go where the model's workers listen.
    assert no_broker == [("job_run_task", (job.pk,), {"queue": "gpu"})]


@pytest.mark.django_db
def test_annotations_mode_takes_the_label_named_like_each_phrase_or_the_one_given(
    setup: dict[str, Any], client_for: Any
) -> None:
    project = setup["project"]
    ok = post(client_for, setup["manager"], project, {"phrases": ["CAT"], "mode": "annotations"})
    assert ok.status_code == 202 and ok.json()["params"]["min_score"] == 0.5
    label = project.labels.first().pk
    body = {"phrases": ["cup"], "mode": "annotations", "label": label, "min_score": 0.7}
    assert post(client_for, setup["manager"], project, body).status_code == 202


@pytest.mark.django_db
def test_a_viewer_and_an_outsider_cannot_start_one(setup: dict[str, Any], client_for: Any) -> None:
    body = {"phrases": ["cup"], "image_ids": [setup["image"].pk]}
    assert post(client_for, setup["viewer"], setup["project"], body).status_code == 403
    assert post(client_for, setup["outsider"], setup["project"], body).status_code == 404
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_an_annotator_runs_proposals_on_the_one_image_they_hold(
    setup: dict[str, Any], client_for: Any
) -> None:
    project, image, annotator = setup["project"], setup["image"], setup["annotator"]
    one = {"phrases": ["cup"], "image_ids": [image.pk]}
    # Not open for editing yet: 409; held by someone else: 423.
    response = post(client_for, annotator, project, one)
    assert (
        response.status_code == 409 and "Open this image for editing" in response.json()["detail"]
    )
    services.image_lock(image=image, user=setup["reviewer"])
    assert post(client_for, annotator, project, one).status_code == 423
    services.image_unlock(image=image, user=setup["reviewer"])
    services.image_lock(image=image, user=annotator)
    assert post(client_for, annotator, project, one).status_code == 202
    # Bounded: the whole project, two images, or annotations are a manager's.
    second = factories.image(project)
    for body in (
        {"phrases": ["cup"]},
        {"phrases": ["cup"], "image_ids": [image.pk, second.pk]},
        {"phrases": ["cat"], "image_ids": [image.pk], "mode": "annotations"},
    ):
        response = post(client_for, annotator, project, body)
        assert response.status_code == 403 and "manager" in response.json()["detail"], body
    foreign = {"phrases": ["cup"], "image_ids": [setup["foreign"].pk]}
    assert post(client_for, annotator, project, foreign).status_code == 400


@pytest.mark.django_db
def test_the_generic_jobs_route_checks_text_params_too(
    setup: dict[str, Any], client_for: Any
) -> None:
    body = {"kind": "text", "params": {"phrases": [""]}}
    response = client_for(setup["manager"]).post(
        f"/api/projects/{setup['project'].pk}/jobs/", body, format="json"
    )
    assert response.status_code == 400 and "Phrase 0 is empty" in response.json()["detail"]
    body = {"kind": "text", "params": {"phrases": ["cup"], "nonsense": 1}}
    response = client_for(setup["manager"]).post(
        f"/api/projects/{setup['project'].pk}/jobs/", body, format="json"
    )
    assert response.status_code == 400 and "nonsense" in response.json()["detail"]


@pytest.mark.django_db
def test_the_status_says_why_text_prompts_are_unavailable_until_a_worker_reports(
    setup: dict[str, Any], client_for: Any, settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    client = client_for(setup["viewer"])
    answer = client.get("/api/text/status").json()
    assert answer["available"] is False and answer["engine"] is None
    assert "no worker on the `gpu` queue has reported" in answer["reason"]

    # What a worker taking the gpu queue reports, here without the models (and, in this venv,
    # without the extra): each engine unavailable, in words. A default-queue worker is silent.
    assert services.text_status_report(queues=["default"]) is None
    settings.SAM3_MODEL = str(tmp_path / "no-such-folder")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    services.text_status_report(queues=["default", "gpu"])
    answer = client.get("/api/text/status").json()
    assert answer["available"] is False and answer["reported_at"]
    sam3 = answer["engines"]["sam3"]
    # A folder is named, never shown as a path on the worker.
    assert sam3["model"] == "no-such-folder" and not sam3["available"] and sam3["reason"]
    assert answer["engines"]["detector"]["model"] == "google/owlv2-base-patch16-ensemble"
    assert "sam3: " in answer["reason"] and "detector: " in answer["reason"]


@pytest.mark.django_db
def test_a_reported_model_folder_makes_its_engine_the_default(
    setup: dict[str, Any], client_for: Any, settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    import importlib.util

    folder = tmp_path / "owl"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "owlv2"}')
    settings.TEXT_DETECTOR = str(folder)
    settings.SAM3_MODEL = str(folder)  # an OWLv2 folder named as SAM 3: refused in words
    real = importlib.util.find_spec
    # The web venv has no transformers; the worker this stands for has the extra.
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "transformers" else real(name, *a),
    )
    services.text_status_report(queues=["gpu"])
    answer = client_for(setup["viewer"]).get("/api/text/status").json()
    assert answer["available"] is True and answer["engine"] == "detector"
    assert answer["engines"]["sam3"]["reason"] == "SAM3_MODEL names a owlv2 model; it takes sam3"
    response = post(client_for, setup["manager"], setup["project"], {"phrases": ["cup"]})
    assert response.status_code == 202 and response.json()["params"]["engine"] == "detector"
