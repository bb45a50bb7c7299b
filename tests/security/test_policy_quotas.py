"""Who may spend the shared machines and who may be added to a project ("Hardening, round
two", 4 and 5), beyond the one-request cases in test_hostile_inputs.py: answers that depend on
what is already queued or stored, on who asks, and on two requests racing for the last slot.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from annotator.models import Image, Job, Membership
from bench.common import Http, multipart
from tests import factories
from tests.backend import conftest as backend

client_for, media_root = backend.client_for, backend.media_root
no_broker, project_with_roles = backend.no_broker, backend.project_with_roles


def _members(p: dict[str, Any]) -> str:
    return f"/api/projects/{p['project'].pk}/members/"


# --- Adding members (5) ---------------------------------------------------------------------------


def _answer(response: Any, name: str) -> tuple[int, str]:
    """The answer with the name asked for taken out, so two answers can be compared."""
    return response.status_code, response.content.decode().replace(name, "NAME")


@pytest.mark.django_db
def test_a_user_the_adder_may_not_see_answers_like_a_user_who_does_not_exist(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    stranger = factories.user("stranger", email="stranger@example.org")
    factories.project(owner=stranger)  # in a project, but not one the owner shares
    owner = client_for(project_with_roles["owner"])
    answers = {
        name: _answer(
            owner.post(_members(project_with_roles), {key: name, "role": "viewer"}, format="json"),
            name,
        )  # fmt: skip
        for key, name in [
            ("username", "stranger"),
            ("username", "nobody"),
            ("email", "stranger@example.org"),
            ("email", "nobody@example.org"),
        ]
    }
    assert len(set(answers.values())) == 1, answers
    status, body = next(iter(answers.values()))
    assert status == 400 and "No user you can add" in body
    assert not Membership.objects.filter(user=stranger, project=project_with_roles["project"])


@pytest.mark.django_db
def test_the_id_form_is_for_staff_and_says_the_same_for_every_id(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    owner = client_for(project_with_roles["owner"])
    url = _members(project_with_roles)
    existing = project_with_roles["outsider"].pk
    answers = {
        _answer(owner.post(url, {"user": pk, "role": "viewer"}, format="json"), str(pk))
        for pk in (existing, 10**9)
    }
    assert len(answers) == 1 and next(iter(answers))[0] == 400, answers
    staff = factories.user("root", is_staff=True)
    Membership.objects.create(project=project_with_roles["project"], user=staff, role="owner")
    added = client_for(staff).post(url, {"user": existing, "role": "viewer"}, format="json")
    assert added.status_code == 201, added.json()
    assert added.json()["username"] == "outsider"


@pytest.mark.django_db
def test_people_who_share_a_project_are_added_by_username_or_email(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    owner_user = project_with_roles["owner"]
    colleague = factories.user("colleague", email="Colleague@Example.org")
    elsewhere = factories.project(owner=owner_user, name="elsewhere")
    Membership.objects.create(project=elsewhere, user=colleague, role="viewer")
    owner = client_for(owner_user)
    url = _members(project_with_roles)
    by_mail = owner.post(url, {"email": "colleague@example.org", "role": "viewer"}, format="json")
    assert by_mail.status_code == 201, by_mail.json()
    assert by_mail.json()["username"] == "colleague"
    again = owner.post(url, {"username": "colleague", "role": "annotator"}, format="json")
    assert again.status_code == 201 and again.json()["role"] == "annotator"


@pytest.mark.django_db
def test_member_directory_all_lets_anyone_be_added(
    project_with_roles: dict[str, Any], client_for: Any, settings: Any
) -> None:
    factories.user("stranger")
    settings.MEMBER_DIRECTORY = "all"
    owner = client_for(project_with_roles["owner"])
    added = owner.post(_members(project_with_roles), {"username": "stranger", "role": "viewer"},
                       format="json")  # fmt: skip
    assert added.status_code == 201, added.json()


@pytest.mark.django_db
def test_the_member_list_names_only_people_of_the_project(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    factories.user("stranger")
    listed = client_for(project_with_roles["viewer"]).get(_members(project_with_roles)).json()
    names = {row["username"] for row in listed["results"]}
    assert names == {"owner", "manager", "annotator", "reviewer", "viewer"}


@pytest.mark.django_db
def test_assigning_an_image_tells_no_one_which_user_ids_exist(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    """An assignee that is no member answers alike whether the id exists; and a caller who may
    not assign gets 403 before any id is looked up."""
    project = project_with_roles["project"]
    image = factories.image(project, data=factories.png_bytes(32, 24, seed=5), name="x.png")
    url = f"/api/images/{image.pk}/"
    existing = project_with_roles["outsider"].pk
    for role, status in (("manager", 400), ("annotator", 403)):
        client = client_for(project_with_roles[role])
        answers = {
            _answer(client.patch(url, {"assignee": pk}, format="json"), str(pk))
            for pk in (existing, 10**9)
        }
        assert len(answers) == 1 and next(iter(answers))[0] == status, (role, answers)
    assigned = client_for(project_with_roles["manager"]).patch(
        url, {"assignee": project_with_roles["annotator"].pk}, format="json"
    )
    assert assigned.status_code == 200 and assigned.json()["assignee"] is not None


# --- Queued work (4) ------------------------------------------------------------------------------


def _export(client: Any, project: Any) -> Any:
    return client.post(f"/api/projects/{project.pk}/jobs/", {"kind": "export"}, format="json")


@pytest.mark.django_db
def test_one_job_more_than_the_users_quota_is_a_429_with_retry_after(
    project_with_roles: dict[str, Any], client_for: Any, settings: Any
) -> None:
    settings.QUOTA_USER_QUEUED_JOBS, settings.QUOTA_RETRY_AFTER = 2, 42
    project, manager = project_with_roles["project"], project_with_roles["manager"]
    client = client_for(manager)
    assert _export(client, project).status_code == 202
    assert _export(client, project).status_code == 202
    refused = _export(client, project)
    assert refused.status_code == 429, refused.json()
    assert refused["Retry-After"] == "42"
    assert "QUOTA_USER_QUEUED_JOBS" in refused.json()["detail"]
    assert Job.objects.filter(created_by=manager).count() == 2
    # Another member of the project has their own quota; finished work frees a slot.
    assert _export(client_for(project_with_roles["owner"]), project).status_code == 202
    Job.objects.filter(created_by=manager).update(status=Job.Status.DONE)
    assert _export(client, project).status_code == 202


@pytest.mark.django_db
def test_one_job_more_than_the_projects_quota_is_a_429(
    project_with_roles: dict[str, Any], client_for: Any, settings: Any
) -> None:
    settings.QUOTA_PROJECT_QUEUED_JOBS = 1
    project = project_with_roles["project"]
    assert _export(client_for(project_with_roles["manager"]), project).status_code == 202
    refused = _export(client_for(project_with_roles["owner"]), project)
    assert refused.status_code == 429 and "QUOTA_PROJECT_QUEUED_JOBS" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0


@pytest.mark.django_db
def test_staff_may_pick_any_known_checkpoint(client_for: Any) -> None:
    staff = factories.user("root", is_staff=True)
    created = client_for(staff).post(
        "/api/projects/", {"name": "big", "sam_checkpoint": "sam_vit_h"}, format="json"
    )
    assert created.status_code == 201, created.json()


# --- Two uploads racing for the last slot (4) ------------------------------------------------------


def _upload_race(http: Http, url: str, uploads: list[bytes]) -> list[tuple[int, str]]:
    barrier = threading.Barrier(len(uploads))
    results: list[tuple[int, str]] = [(0, "")] * len(uploads)

    def go(i: int, data: bytes) -> None:
        raw, content_type = multipart([(f"image-{i}.png", data)])
        barrier.wait()
        status, body, _ = http.call("POST", url, raw=raw, content_type=content_type)
        results[i] = (status, body.decode(errors="replace"))

    threads = [threading.Thread(target=go, args=(i, d)) for i, d in enumerate(uploads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_two_uploads_cannot_both_take_the_last_image_slot(
    project_with_roles: dict[str, Any], live_server: Any, settings: Any
) -> None:
    """The quota is counted after the upload's rows are in, under the project's lock: of two
    uploads racing for the one free slot exactly one is stored (on SQLite and PostgreSQL)."""
    project = project_with_roles["project"]
    settings.QUOTA_PROJECT_IMAGES = 1
    http = Http(live_server.url, Token.objects.create(user=project_with_roles["manager"]).key)
    url = f"/api/projects/{project.pk}/images/"
    for round_ in range(4):
        Image.objects.filter(project=project).delete()
        answers = _upload_race(
            http, url, [factories.png_bytes(32, 24, seed=10 * round_ + i) for i in range(2)]
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses[0] == 201 and statuses[1] in (413, 503), answers
        assert Image.objects.filter(project=project).count() == 1, answers
        refused = [body for status, body in answers if status != 201]
        assert re.search(r"QUOTA_PROJECT_IMAGES|busy", refused[0]), answers
