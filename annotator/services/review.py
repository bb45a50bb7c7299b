"""The review workflow: an image's status moves only along TRANSITIONS, by someone whose role
has the capability the step needs, while nobody else holds the image's edit lock.

    new -> in_progress -> submitted -> accepted | rejected -> in_progress -> ...

Every step is kept as a ReviewEvent (who, when, from, to, comment), so a decision can never be
made without a record of it; the status change itself is one conditional UPDATE on the status
that was read, so of two people racing (two reviewers, or a reviewer and a manager) exactly one
wins and the other gets a 409 naming the status it found.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotator.models import Annotation, Image, Project, ReviewEvent, ReviewIssue
from annotator.permissions import CAPABILITIES, Can, role_of
from annotator.services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    User,
)
from annotator.services.locks import check_not_locked_by_other, free_for, image_lock

# Plain strings (Image.Status's values), so the table reads the same to a type checker.
NEW, IN_PROGRESS, SUBMITTED = "new", "in_progress", "submitted"
ACCEPTED, REJECTED = "accepted", "rejected"
assert {NEW, IN_PROGRESS, SUBMITTED, ACCEPTED, REJECTED} == set(Image.Status.values)

# (from, to): (the step's name, the capability it needs).
TRANSITIONS: dict[tuple[str, str], tuple[str, Can]] = {
    (NEW, IN_PROGRESS): ("start", Can.ANNOTATE),
    (NEW, SUBMITTED): ("submit", Can.ANNOTATE),
    (IN_PROGRESS, SUBMITTED): ("submit", Can.ANNOTATE),
    (REJECTED, IN_PROGRESS): ("start", Can.ANNOTATE),
    (REJECTED, SUBMITTED): ("submit", Can.ANNOTATE),
    (SUBMITTED, ACCEPTED): ("accept", Can.REVIEW),
    (SUBMITTED, REJECTED): ("reject", Can.REVIEW),
    (SUBMITTED, IN_PROGRESS): ("reopen", Can.MANAGE),
    (ACCEPTED, IN_PROGRESS): ("reopen", Can.MANAGE),
}
ACTIONS = {action: to for (_, to), (action, _) in TRANSITIONS.items()}
WHO = {Can.ANNOTATE: "an annotator", Can.REVIEW: "a reviewer", Can.MANAGE: "a manager"}


def allowed_steps(*, image: Image, user: User) -> list[str]:
    """The steps (`submit`, `accept`, ...) `user` may take on the image as it is now; the page
    shows a button for each."""
    role = role_of(user, image.project_id)
    caps = CAPABILITIES[role] if role else frozenset()
    steps = []
    for (frm, _), (action, needed) in TRANSITIONS.items():
        if frm != image.status or needed not in caps or action in steps:
            continue
        if action in ("accept", "reject") and _is_own_work(image=image, user=user):
            continue
        steps.append(action)
    return steps


def image_transition(*, image: Image, user: User, to: str, comment: str = "") -> Image:
    """Move the image to status `to`, if the state machine and the caller's role allow it."""
    role = role_of(user, image.project_id)
    if role is None:
        raise NotFound("Not found.")
    caps = CAPABILITIES[role]
    if Can.ANNOTATE not in caps:
        raise Forbidden(f"Your role ({role}) is read-only: it cannot change an image's status.")
    image.refresh_from_db(fields=["status", "assignee", "locked_by", "locked_until"])
    current = image.status
    step = TRANSITIONS.get((current, to))
    if step is None:
        raise Conflict(_no_step(current, to), status=current)
    action, needed = step
    if needed not in caps:
        raise Forbidden(
            f"Only {WHO[needed]} (or a role above it) can {action} an image; your role is {role}."
        )
    if action in ("accept", "reject") and _is_own_work(image=image, user=user):
        raise Forbidden(
            "You submitted this image yourself: another reviewer must accept or reject it "
            "(a project owner can allow self-review in the project's settings)."
        )
    if action == "reject" and not comment.strip():
        raise Invalid("A rejection needs a comment that tells the annotator what to fix.")
    if action == "submit" and image.assignee_id not in (None, user.pk) and Can.MANAGE not in caps:
        raise Forbidden(
            f"The image is assigned to {image.assignee}; only they or a manager can submit it."
        )
    check_not_locked_by_other(image, user)
    _apply(image=image, user=user, current=current, to=to, action=action, comment=comment)
    image.refresh_from_db()
    return image


def _apply(*, image: Image, user: User, current: str, to: str, action: str, comment: str) -> None:
    now = timezone.now()
    fields: dict[str, object] = {"status": to, "updated_at": now}
    if action in ("accept", "reject"):
        fields.update(review_comment=comment, reviewed_by=user, reviewed_at=now)
    if action in ("submit", "accept", "reject"):
        # The step hands the image over (to the reviewer, or back to the annotator): the
        # caller's edit lock goes with it, so the other side can open it at once. The UPDATE
        # below matches only if nobody else holds a live lock, so this clears no one else's.
        fields.update(locked_by=None, locked_until=None)
    with transaction.atomic():
        moved = (
            Image.objects.filter(pk=image.pk, status=current)
            .filter(free_for(user))
            .update(**fields)
        )
        if not moved:
            image.refresh_from_db(fields=["status", "locked_by", "locked_until"])
            check_not_locked_by_other(image, user)
            raise Conflict(
                f"The image changed meanwhile: it is now {image.status}, not {current}. "
                "Reload it and decide again.",
                status=image.status,
            )
        ReviewEvent.objects.create(
            image=image, user=user, action=action, from_status=current, to_status=to,
            comment=comment,
        )  # fmt: skip


def image_start_if_open(*, image: Image, user: User) -> None:
    """An annotation was written to a new or rejected image: it is in progress now (the same
    conditional step as an explicit `start`, recorded like one)."""
    if image.status not in (NEW, REJECTED):
        return
    for current in (NEW, REJECTED):
        with transaction.atomic():
            if Image.objects.filter(pk=image.pk, status=current).update(
                status=IN_PROGRESS, updated_at=timezone.now()
            ):
                ReviewEvent.objects.create(
                    image=image, user=user, action="start", from_status=current,
                    to_status=IN_PROGRESS,
                )  # fmt: skip
                image.status = IN_PROGRESS
                return


def check_writable(*, image: Image, user: User) -> None:
    """Refuse an annotation write the image's status forbids: nobody edits an accepted image
    until a manager reopens it, and only reviewers (fixing small things while they review)
    edit a submitted one, so what the reviewer decides on is what the annotator submitted."""
    if image.status == ACCEPTED:
        raise Conflict(
            "The image is accepted, so its annotations are final; a manager must reopen it "
            "(PATCH status in_progress) before it can be edited.",
            status=image.status,
        )
    if image.status == SUBMITTED:
        role = role_of(user, image.project_id)
        if role is None or Can.REVIEW not in CAPABILITIES[role]:
            raise Conflict(
                "The image is submitted for review; wait for the reviewer's decision "
                "(or ask a manager to reopen it) before editing it.",
                status=image.status,
            )


def image_write_refusal(*, image: Image, user: User) -> ServiceError | None:
    """Why `user` may not write annotations of the image now (its lock, its status), or None.
    For writers that go over many images (imports, jobs): they skip such an image and report
    the reason, where a single edit answers the error itself."""
    image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
    try:
        check_not_locked_by_other(image, user)
        check_writable(image=image, user=user)
    except ServiceError as exc:
        return exc
    return None


def writable_statuses(*, image: Image, user: User) -> list[str]:
    """The statuses in which `user` may write annotations of the image's project, for the
    conditional UPDATEs of annotation writes."""
    role = role_of(user, image.project_id)
    statuses = [NEW, IN_PROGRESS, REJECTED]
    if role is not None and Can.REVIEW in CAPABILITIES[role]:
        statuses.append(SUBMITTED)
    return statuses


def project_allow_self_review(*, project: Project, allow: bool) -> Project:
    """Let reviewers decide on their own submissions (a team of one) or not (the default)."""
    project.allow_self_review = allow
    project.save(update_fields=["allow_self_review"])
    return project


def image_lock_to_edit(*, image: Image, user: User) -> Image:
    """Take the edit lock, which only someone who may edit the image now can hold: a lock on an
    accepted image would only block the manager who reopens it."""
    image.refresh_from_db(fields=["status"])
    check_writable(image=image, user=user)
    return image_lock(image=image, user=user)


def _is_own_work(*, image: Image, user: User) -> bool:
    """Whether `user` made the submission now under review (and the project forbids that)."""
    if image.project.allow_self_review:
        return False
    last = image.review_events.filter(action="submit").order_by("-id").first()
    return last is not None and last.user_id == user.pk


def _no_step(current: str, to: str) -> str:
    if current == to:
        return f"The image is already {current}."
    nexts = [f"{t} ({a})" for (f, t), (a, _) in TRANSITIONS.items() if f == current]
    where = ", ".join(nexts) if nexts else "nowhere"
    hint = ""
    if to in (ACCEPTED, REJECTED):
        hint = (
            " Only a submitted image can be accepted or rejected: the annotator submits it first."
        )
    elif current == ACCEPTED:
        hint = " An accepted image is final until a manager reopens it (status in_progress)."
    return f"An image cannot go from {current} to {to}; from {current} it can go to {where}.{hint}"


def issue_create(
    *,
    image: Image,
    user: User,
    text: str,
    x: float | None = None,
    y: float | None = None,
    annotation: Annotation | None = None,
) -> ReviewIssue:
    """A reviewer pins a remark to a point of the image or to one of its annotations."""
    role = role_of(user, image.project_id)
    if role is None or Can.REVIEW not in CAPABILITIES[role]:
        raise Forbidden(f"Only reviewers pin issues; your role is {role}.")
    if not text.strip():
        raise Invalid("An issue needs a text that says what is wrong.")
    if (x is None) != (y is None):
        raise Invalid("A point needs both x and y.")
    if x is None and annotation is None:
        raise Invalid("Pin the issue to a point (x, y) or to an annotation.")
    if x is not None and y is not None and not (0 <= x <= image.width and 0 <= y <= image.height):
        raise Invalid(f"The point must lie in the image (0..{image.width}, 0..{image.height}).")
    if annotation is not None and annotation.image_id != image.pk:
        raise Invalid("The annotation belongs to another image.")
    return ReviewIssue.objects.create(
        image=image, annotation=annotation, x=x, y=y, text=text.strip(), created_by=user
    )


def issue_resolve(*, issue: ReviewIssue, user: User) -> ReviewIssue:
    """The annotator marks an issue fixed; once only (a conditional UPDATE, like the steps)."""
    role = role_of(user, issue.image.project_id)
    if role is None or Can.ANNOTATE not in CAPABILITIES[role]:
        raise Forbidden(f"Your role ({role}) is read-only: it cannot resolve issues.")
    check_not_locked_by_other(issue.image, user)
    now = timezone.now()
    if not ReviewIssue.objects.filter(pk=issue.pk, resolved_at__isnull=True).update(
        resolved_by=user, resolved_at=now
    ):
        issue.refresh_from_db()
        raise Conflict(
            f"The issue was already resolved by {issue.resolved_by} at {issue.resolved_at}."
        )
    issue.refresh_from_db()
    return issue
