"""Every endpoint against every role: what each role may do, 403 for a member without the
right, 404 for someone outside the project (another project's ids do not exist for them)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories

ROLES = ["owner", "manager", "reviewer", "annotator", "viewer", "outsider"]


def _expect(allowed: set[str], ok: int) -> dict[str, int]:
    return {role: ok if role in allowed else (404 if role == "outsider" else 403) for role in ROLES}


EVERYONE = {"owner", "manager", "reviewer", "annotator", "viewer"}
WRITERS = {"owner", "manager", "reviewer", "annotator"}
REVIEWERS = {"owner", "manager", "reviewer"}
MANAGERS = {"owner", "manager"}


def _cases() -> list[tuple[Any, ...]]:
    """(method, url template, body factory, expected status per role[, the image's status]).

    The image is in progress (anyone who annotates may write it) unless the case says
    otherwise: a decision needs a submitted image. tests/backend/test_review.py has every step
    of the workflow from every status."""
    return [
        ("get", "/api/projects/{p}/", None, _expect(EVERYONE, 200)),
        ("patch", "/api/projects/{p}/", lambda c: {"description": "x"}, _expect(MANAGERS, 200)),
        ("delete", "/api/projects/{p}/", None, _expect({"owner"}, 204)),
        ("get", "/api/projects/{p}/members/", None, _expect(EVERYONE, 200)),
        (
            "post",
            "/api/projects/{p}/members/",
            lambda c: {"username": c["newcomer"].username, "role": "viewer"},
            _expect(MANAGERS, 201),
        ),
        (
            "patch",
            "/api/projects/{p}/members/{m}/",
            lambda c: {"role": "annotator"},
            _expect(MANAGERS, 200),
        ),
        ("delete", "/api/projects/{p}/members/{m}/", None, _expect(MANAGERS, 204)),
        ("get", "/api/projects/{p}/labels/", None, _expect(EVERYONE, 200)),
        ("delete", "/api/projects/{p}/labels/{s}/", None, _expect(MANAGERS, 204)),
        (
            "post",
            "/api/projects/{p}/labels/",
            lambda c: {"name": "bird", "color": "#0000ff"},
            _expect(MANAGERS, 201),
        ),
        (
            "patch",
            "/api/projects/{p}/labels/{l}/",
            lambda c: {"color": "#123456"},
            _expect(MANAGERS, 200),
        ),
        ("get", "/api/projects/{p}/images/", None, _expect(EVERYONE, 200)),
        ("post", "/api/projects/{p}/images/", "upload", _expect(MANAGERS, 201)),
        ("get", "/api/images/{i}/", None, _expect(EVERYONE, 200)),
        ("patch", "/api/images/{i}/", lambda c: {"status": "submitted"}, _expect(WRITERS, 200)),
        (
            "patch",
            "/api/images/{i}/",
            lambda c: {"status": "accepted"},
            _expect(REVIEWERS, 200),
            "submitted",
        ),
        (
            "patch",
            "/api/images/{i}/",
            lambda c: {"assignee": c["annotator"].pk},
            _expect(MANAGERS, 200),
        ),
        ("delete", "/api/images/{i}/", None, _expect(MANAGERS, 204)),
        ("get", "/api/projects/{p}/next-image", None, _expect(WRITERS, 204), "submitted"),
        (
            "post",
            "/api/images/{i}/review",
            lambda c: {"decision": "reject", "comment": "edges"},
            _expect(REVIEWERS, 200),
            "submitted",
        ),
        ("get", "/api/images/{i}/file", None, _expect(EVERYONE, 200)),
        ("post", "/api/images/{i}/lock", None, _expect(WRITERS, 200)),
        ("delete", "/api/images/{i}/lock", None, _expect(WRITERS, 200)),
        (
            "post",
            "/api/images/{i}/predict",
            lambda c: {"point_coords": [[3, 4]], "point_labels": [1]},
            _expect(WRITERS, 202),
        ),
        ("get", "/api/images/{i}/embedding", None, _expect(EVERYONE, 202)),
        ("post", "/api/images/{i}/embedding", None, _expect(MANAGERS, 202)),
        ("get", "/api/images/{i}/annotations/", None, _expect(EVERYONE, 200)),
        (
            "post",
            "/api/images/{i}/annotations/",
            lambda c: {"label": c["label"].pk, "polygons": factories.square(1, 1, 5)},
            _expect(WRITERS, 201),
        ),
        ("get", "/api/annotations/{a}/", None, _expect(EVERYONE, 200)),
        (
            "patch",
            "/api/annotations/{a}/",
            lambda c: {"version": 1, "polygons": factories.square(3, 3, 4)},
            _expect(WRITERS, 200),
        ),
        (
            "put",
            "/api/annotations/{a}/",
            lambda c: {"version": 1, "label": c["label"].pk, "polygons": factories.square(1, 1, 2)},
            _expect(WRITERS, 200),
        ),
        ("delete", "/api/annotations/{a}/", None, _expect(WRITERS, 204)),
        (
            "post",
            "/api/annotations/bulk",
            lambda c: {"image": c["image"].pk, "delete": [c["annotation"].pk]},
            _expect(WRITERS, 200),
        ),
        ("get", "/api/projects/{p}/jobs/", None, _expect(EVERYONE, 200)),
        (
            "post",
            "/api/projects/{p}/exports/",
            lambda c: {"format": "coco"},
            _expect(MANAGERS, 202),
        ),
        ("get", "/api/jobs/{j}/", None, _expect(EVERYONE, 200)),
    ]


CASES = [case if len(case) == 5 else (*case, "in_progress") for case in _cases()]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "url", "body", "expected", "status"),
    CASES,
    ids=[f"{case[0]} {case[1]} {i}" for i, case in enumerate(CASES)],
)
def test_each_role_gets_the_answer_its_capabilities_allow(
    project_with_roles: dict,
    client_for: Any,
    role: str,
    method: str,
    url: str,
    body: Any,
    expected: dict[str, int],
    status: str,
) -> None:
    ctx = dict(project_with_roles)
    project = ctx["project"]
    ctx["label"] = project.labels.first()
    ctx["image"] = factories.image(project)
    ctx["image"].status = status
    ctx["image"].save()
    ctx["annotation"] = factories.annotation(ctx["image"])
    ctx["newcomer"] = factories.user()
    # Managers add people they can see (MEMBER_DIRECTORY=shared): one who shares a project.
    shared = factories.project(owner=ctx["owner"])
    shared.memberships.create(user=ctx["manager"], role="viewer")
    shared.memberships.create(user=ctx["newcomer"], role="viewer")
    ctx["member"] = factories.member(project, "viewer")
    ctx["spare"] = project.labels.create(name="spare", color="#abcdef")
    from annotator.models import Job

    ctx["job"] = Job.objects.create(project=project, kind="export", created_by=ctx["owner"])
    path = url.format(
        p=project.pk,
        l=ctx["label"].pk,
        s=ctx["spare"].pk,
        m=ctx["member"].pk,
        i=ctx["image"].pk,
        a=ctx["annotation"].pk,
        j=ctx["job"].pk,
    )
    client = client_for(ctx[role])
    if body == "upload":
        upload = SimpleUploadedFile("n.png", factories.png_bytes(seed=99))
        response = client.post(path, {"files": [upload]}, format="multipart")
    elif body is None:
        response = getattr(client, method)(path)
    else:
        response = getattr(client, method)(path, body(ctx), format="json")
    assert response.status_code == expected[role], (role, response.content[:300])
    if response.status_code >= 400:
        assert "detail" in response.json()


@pytest.mark.django_db
def test_anonymous_callers_are_refused(project_with_roles: dict) -> None:
    from rest_framework.test import APIClient

    response = APIClient().get(f"/api/projects/{project_with_roles['project'].pk}/")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_a_token_authenticates_scripts(project_with_roles: dict) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=project_with_roles["viewer"])
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(f"/api/projects/{project_with_roles['project'].pk}/").status_code == 200


@pytest.mark.django_db
def test_a_user_lists_only_projects_they_belong_to(
    project_with_roles: dict, client_for: Any
) -> None:
    response = client_for(project_with_roles["viewer"]).get("/api/projects/")
    assert [p["id"] for p in response.json()["results"]] == [project_with_roles["project"].pk]
    assert response.json()["results"][0]["role"] == "viewer"
