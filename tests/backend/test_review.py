"""The review workflow through the API: every (from, to) pair of statuses for every role, the
bypasses it closes, the record it keeps, pinned issues and the queues."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from annotator import services
from annotator.models import Image, ReviewEvent
from annotator.services import review
from tests import factories

S = Image.Status
ROLES = ["owner", "manager", "reviewer", "annotator", "viewer"]
RANK = {"viewer": 0, "annotator": 1, "reviewer": 2, "manager": 3, "owner": 4}
# The least role each step needs (services/review.py's TRANSITIONS in roles).
NEEDS = {"start": "annotator", "submit": "annotator", "accept": "reviewer",
         "reject": "reviewer", "reopen": "manager"}  # fmt: skip
STEP = {pair: action for pair, (action, _) in review.TRANSITIONS.items()}


def _expected(role: str, current: str, to: str) -> int:
    if role == "viewer":
        return 403  # read-only: never writes, whatever it asks
    action = STEP.get((current, to))
    if action is None:
        return 409  # not a step of the workflow
    return 200 if RANK[role] >= RANK[NEEDS[action]] else 403


CASES = [
    (role, current, to, _expected(role, current, to))
    for role, (current, to) in itertools.product(ROLES, itertools.product(S.values, S.values))
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "current", "to", "expected"), CASES)
def test_each_role_takes_exactly_the_steps_the_workflow_gives_it(
    project_with_roles: dict, client_for: Any, role: str, current: str, to: str, expected: int
) -> None:
    image = factories.set_status(factories.image(project_with_roles["project"]), current)
    client = client_for(project_with_roles[role])
    response = client.patch(
        f"/api/images/{image.pk}/", {"status": to, "comment": "fix the tail"}, format="json"
    )
    assert response.status_code == expected, response.json()
    image.refresh_from_db()
    events = list(ReviewEvent.objects.filter(image=image))
    if expected == 200:
        assert image.status == to
        assert [(e.action, e.from_status, e.to_status, e.user_id) for e in events] == [
            (STEP[(current, to)], current, to, project_with_roles[role].pk)
        ]
    else:
        assert image.status == current and events == []
        assert response.json()["detail"]


@pytest.mark.django_db
def test_a_new_image_cannot_be_patched_straight_to_accepted(
    project_with_roles: dict, client_for: Any
) -> None:
    image = factories.image(project_with_roles["project"])
    response = client_for(project_with_roles["reviewer"]).patch(
        f"/api/images/{image.pk}/", {"status": "accepted"}, format="json"
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "cannot go from new to accepted" in detail and "submits it first" in detail
    image.refresh_from_db()
    assert image.status == S.NEW and not image.review_events.exists()


@pytest.mark.django_db
def test_an_accepted_image_cannot_be_edited_or_moved_back_by_an_annotator(
    project_with_roles: dict, client_for: Any
) -> None:
    p = project_with_roles["project"]
    image = factories.image(p)
    annotation = factories.annotation(image)
    factories.set_status(image, S.ACCEPTED)
    client = client_for(project_with_roles["annotator"])
    body = {"label": p.labels.first().pk, "polygons": factories.square(1, 1, 5)}
    added = client.post(f"/api/images/{image.pk}/annotations/", body, format="json")
    assert added.status_code == 409 and "manager must reopen it" in added.json()["detail"]
    changed = client.patch(
        f"/api/annotations/{annotation.pk}/",
        {"version": 1, "polygons": factories.square(2, 2, 4)},
        format="json",
    )
    assert changed.status_code == 409 and "manager must reopen it" in changed.json()["detail"]
    deleted = client.delete(f"/api/annotations/{annotation.pk}/")
    assert deleted.status_code == 409 and "manager must reopen it" in deleted.json()["detail"]
    bulk = client.post(
        "/api/annotations/bulk", {"image": image.pk, "delete": [annotation.pk]}, format="json"
    )
    assert bulk.status_code == 409 and "manager must reopen it" in bulk.json()["detail"]
    reverted = client.post(
        f"/api/images/{image.pk}/history/revert",
        {"annotation": annotation.pk, "to": 1, "version": 1},
        format="json",
    )
    assert reverted.status_code == 409 and "manager must reopen it" in reverted.json()["detail"]
    locked = client.post(f"/api/images/{image.pk}/lock")
    assert locked.status_code == 409 and "manager must reopen it" in locked.json()["detail"]
    back = client.patch(f"/api/images/{image.pk}/", {"status": "new"}, format="json")
    assert back.status_code == 409 and "until a manager reopens it" in back.json()["detail"]
    reopen = client.patch(f"/api/images/{image.pk}/", {"status": "in_progress"}, format="json")
    assert reopen.status_code == 403 and "manager" in reopen.json()["detail"]
    assert image.annotations.count() == 1
    # A manager reopens it; then the annotator edits again.
    manager = client_for(project_with_roles["manager"])
    assert manager.patch(
        f"/api/images/{image.pk}/", {"status": "in_progress"}, format="json"
    ).status_code == 200  # fmt: skip
    assert (
        client.post(f"/api/images/{image.pk}/annotations/", body, format="json").status_code == 201
    )


@pytest.mark.django_db
def test_nobody_changes_the_status_of_an_image_someone_else_holds(
    project_with_roles: dict, client_for: Any
) -> None:
    image = factories.set_status(factories.image(project_with_roles["project"]), S.SUBMITTED)
    services.image_lock(image=image, user=project_with_roles["manager"])
    response = client_for(project_with_roles["reviewer"]).post(
        f"/api/images/{image.pk}/review", {"decision": "reject", "comment": "no"}, format="json"
    )
    assert response.status_code == 423 and "being edited by manager" in response.json()["detail"]
    assert "try again after that" in response.json()["detail"]
    # The status route is held the same way, for a manager too.
    moved = client_for(project_with_roles["owner"]).patch(
        f"/api/images/{image.pk}/", {"status": "in_progress"}, format="json"
    )
    assert moved.status_code == 423 and "ask them to close the image" in moved.json()["detail"]
    image.refresh_from_db()
    assert image.status == S.SUBMITTED and not image.review_events.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"status": "submitted"}, {"assignee": None}])
def test_a_viewer_never_writes_not_even_an_empty_patch(
    project_with_roles: dict, client_for: Any, body: dict
) -> None:
    image = factories.image(project_with_roles["project"])
    before = image.updated_at
    response = client_for(project_with_roles["viewer"]).patch(
        f"/api/images/{image.pk}/", body, format="json"
    )
    assert response.status_code == 403 and "viewer" in response.json()["detail"]
    assert "a project manager can give you a role" in response.json()["detail"]
    image.refresh_from_db()
    assert image.updated_at == before


@pytest.mark.django_db
def test_an_empty_patch_from_a_writer_says_what_to_send(
    project_with_roles: dict, client_for: Any
) -> None:
    image = factories.image(project_with_roles["project"])
    response = client_for(project_with_roles["annotator"]).patch(
        f"/api/images/{image.pk}/", {}, format="json"
    )
    assert response.status_code == 400 and "Nothing to change" in response.json()["detail"]


@pytest.mark.django_db
def test_a_reviewer_does_not_decide_on_their_own_submission_unless_the_project_allows_it(
    project_with_roles: dict, client_for: Any
) -> None:
    p, reviewer = project_with_roles["project"], project_with_roles["reviewer"]
    image = factories.image(p)
    client = client_for(reviewer)
    assert client.patch(
        f"/api/images/{image.pk}/", {"status": "submitted"}, format="json"
    ).status_code == 200  # fmt: skip
    url = f"/api/images/{image.pk}/review"
    own = client.post(url, {"decision": "accept"}, format="json")
    assert own.status_code == 403 and "another reviewer" in own.json()["detail"]
    assert client.get(url).json()["steps"] == []
    switch = {"allow_self_review": True}
    manager = client_for(project_with_roles["manager"])
    assert manager.patch(f"/api/projects/{p.pk}/", switch, format="json").status_code == 403
    owner = client_for(project_with_roles["owner"])
    switched = owner.patch(f"/api/projects/{p.pk}/", switch, format="json")
    assert switched.status_code == 200 and switched.json()["allow_self_review"] is True
    assert set(client.get(url).json()["steps"]) == {"accept", "reject"}
    assert client.post(url, {"decision": "accept"}, format="json").status_code == 200


@pytest.mark.django_db
def test_a_rejection_needs_a_comment_and_every_decision_is_kept(
    project_with_roles: dict, client_for: Any
) -> None:
    image = factories.image(project_with_roles["project"])
    annotator = client_for(project_with_roles["annotator"])
    reviewer = client_for(project_with_roles["reviewer"])
    url = f"/api/images/{image.pk}/review"

    def submit() -> None:
        assert annotator.patch(
            f"/api/images/{image.pk}/", {"status": "submitted"}, format="json"
        ).status_code == 200  # fmt: skip

    submit()
    bare = reviewer.post(url, {"decision": "reject"}, format="json")
    assert bare.status_code == 400 and "what to fix" in bare.json()["detail"]
    assert (
        reviewer.post(url, {"decision": "reject", "comment": "tail"}, format="json").status_code
        < 300
    )
    submit()
    assert (
        reviewer.post(url, {"decision": "accept", "comment": "good"}, format="json").status_code
        < 300
    )
    record = annotator.get(url).json()
    assert [(e["action"], e["comment"], e["user_name"]) for e in record["events"]] == [
        ("submit", "", "annotator"),
        ("reject", "tail", "reviewer"),
        ("submit", "", "annotator"),
        ("accept", "good", "reviewer"),
    ]


@pytest.mark.django_db
def test_of_two_racing_decisions_only_one_passes(project_with_roles: dict) -> None:
    """The status read and the write are one conditional UPDATE: a decision made from a
    status that another decision has just left matches no row and is refused."""
    image = factories.set_status(factories.image(project_with_roles["project"]), S.SUBMITTED)
    first, second = project_with_roles["reviewer"], project_with_roles["manager"]
    review._apply(
        image=image, user=first, current=S.SUBMITTED, to=S.ACCEPTED, action="accept", comment=""
    )
    # The second reviewer read "submitted" before the first decision landed.
    with pytest.raises(services.Conflict, match="now accepted, not submitted"):
        review._apply(
            image=image, user=second, current=S.SUBMITTED, to=S.REJECTED, action="reject",
            comment="no",
        )  # fmt: skip
    image.refresh_from_db()
    assert image.status == S.ACCEPTED
    assert list(image.review_events.values_list("action", flat=True)) == ["accept"]


@pytest.mark.django_db
def test_submitted_images_are_the_reviewers_to_edit(
    project_with_roles: dict, client_for: Any
) -> None:
    p = project_with_roles["project"]
    image = factories.set_status(factories.image(p), S.SUBMITTED)
    body = {"label": p.labels.first().pk, "polygons": factories.square(1, 1, 5)}
    url = f"/api/images/{image.pk}/annotations/"
    annotator = client_for(project_with_roles["annotator"]).post(url, body, format="json")
    assert annotator.status_code == 409 and "wait for the reviewer" in annotator.json()["detail"]
    reviewer = client_for(project_with_roles["reviewer"]).post(url, body, format="json")
    assert reviewer.status_code == 201
    image.refresh_from_db()
    assert image.status == S.SUBMITTED  # a reviewer's fix does not take it out of review


@pytest.mark.django_db
def test_writing_to_a_new_or_rejected_image_starts_it(
    project_with_roles: dict, client_for: Any
) -> None:
    p = project_with_roles["project"]
    image = factories.set_status(factories.image(p), S.REJECTED)
    body = {"label": p.labels.first().pk, "polygons": factories.square(1, 1, 5)}
    client = client_for(project_with_roles["annotator"])
    assert (
        client.post(f"/api/images/{image.pk}/annotations/", body, format="json").status_code < 300
    )
    image.refresh_from_db()
    assert image.status == S.IN_PROGRESS
    assert list(image.review_events.values_list("action", "from_status")) == [("start", "rejected")]


@pytest.mark.django_db
def test_an_issue_is_pinned_by_a_reviewer_and_resolved_by_the_annotator(
    project_with_roles: dict, client_for: Any
) -> None:
    image = factories.set_status(factories.image(project_with_roles["project"]), S.SUBMITTED)
    reviewer = client_for(project_with_roles["reviewer"])
    annotator = client_for(project_with_roles["annotator"])
    url = f"/api/images/{image.pk}/issues"
    text = "this edge leaks into the background"
    assert annotator.post(url, {"text": text, "x": 3, "y": 4}, format="json").status_code == 403
    assert reviewer.post(url, {"text": text}, format="json").status_code == 400
    outside = reviewer.post(url, {"text": text, "x": 9999, "y": 4}, format="json")
    assert outside.status_code == 400 and "lie in the image" in outside.json()["detail"]
    pinned = reviewer.post(url, {"text": text, "x": 3.5, "y": 4}, format="json")
    assert pinned.status_code == 201
    issue = pinned.json()
    assert (issue["x"], issue["y"], issue["resolved_at"]) == (3.5, 4.0, None)
    resolved = annotator.post(f"/api/issues/{issue['id']}/resolve")
    assert resolved.status_code == 200 and resolved.json()["resolved_by_name"] == "annotator"
    again = annotator.post(f"/api/issues/{issue['id']}/resolve")
    assert again.status_code == 409 and "already resolved" in again.json()["detail"]
    viewer = client_for(project_with_roles["viewer"])
    assert viewer.get(f"/api/images/{image.pk}/review").json()["issues"][0]["text"] == text


@pytest.mark.django_db
def test_rejected_images_come_first_and_reviewers_get_the_next_submitted_one(
    project_with_roles: dict, client_for: Any
) -> None:
    p = project_with_roles["project"]
    fresh, rejected, submitted, own = (factories.image(p) for _ in range(4))
    factories.set_status(rejected, S.REJECTED)
    factories.set_status(submitted, S.SUBMITTED)
    annotator = client_for(project_with_roles["annotator"])
    url = f"/api/projects/{p.pk}/next-image"
    assert annotator.get(url).json()["id"] == rejected.pk
    assert annotator.get(url + "?review=1").status_code == 403
    reviewer = client_for(project_with_roles["reviewer"])
    assert reviewer.patch(
        f"/api/images/{own.pk}/", {"status": "submitted"}, format="json"
    ).status_code == 200  # fmt: skip
    # Their own submission is not theirs to review.
    assert reviewer.get(url + "?review=1").json()["id"] == submitted.pk
    assert reviewer.get(url + f"?review=1&after={submitted.pk}").status_code == 204
    # After the rejected one: the open images by id, wrapping around to the first.
    assert annotator.get(url + f"?after={rejected.pk}").json()["id"] == fresh.pk


@pytest.mark.django_db
@pytest.mark.slow
def test_a_job_leaves_held_images_alone_and_lists_them(
    project_with_roles: dict, reference_dir: Any
) -> None:
    from annotator.models import Job

    owner = project_with_roles["owner"]
    p = factories.project(owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth"))
    annotator = factories.member(p, "annotator", username="holder")
    free, final, busy = (
        factories.image(p, data=factories.png_bytes(64, 48, seed=seed), name=name)
        for seed, name in enumerate(("f.png", "a.png", "b.png"))
    )
    box = [[8.0, 8.0, 40.0, 40.0]]
    job = services.job_create(
        project=p, kind="auto_annotate", created_by=owner,
        params={"boxes": {str(i.pk): box for i in (free, final, busy)},
                "label": p.labels.first().pk, "keep_above": 0},
    )  # fmt: skip
    # Held after the job was queued, before a worker ran it: checked again at run time.
    factories.set_status(final, S.ACCEPTED)
    services.image_lock(image=busy, user=annotator)

    services.job_run(job=job)

    job = Job.objects.get(pk=job.pk)
    assert job.status == Job.Status.DONE, job.error
    assert job.done == job.total == 3
    reasons = {row["name"]: row["reason"] for row in job.skipped}
    # The accepted image is skipped, with why; the one someone holds gets its proposal, which
    # only they may keep (the job's keep_above keep is refused there, not forced in).
    assert set(reasons) == {"a.png"}
    assert "manager must reopen it" in reasons["a.png"]
    assert free.annotations.count() == 1
    assert not final.annotations.exists() and not final.proposals.exists()
    assert not busy.annotations.exists()
    assert list(busy.proposals.values_list("status", flat=True)) == ["pending"]
