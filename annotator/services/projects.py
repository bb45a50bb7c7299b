"""Projects, their members and their labels."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Max

from annotator import selectors
from annotator.models import (
    MAX_DESCRIPTION,
    MAX_LABELS,
    Annotation,
    Label,
    Membership,
    Project,
    Role,
)
from annotator.services.errors import Conflict, Invalid, NotFound, User
from annotator.services.quotas import checkpoint_allowed, project_create_allowed
from annotator.services.sam_models import sam_model_get_or_create


@transaction.atomic
def project_create(
    *,
    name: str,
    description: str = "",
    created_by: User,
    labels: list[tuple[str, str]] | list[tuple[str, str, str]] | None = None,
    sam_checkpoint: str | None = None,
) -> Project:
    """Create a project; its creator becomes its owner (PROJECT_CREATORS and the offered
    checkpoints decide who may, and with which model: annotator/services/quotas.py)."""
    if not name.strip():
        raise Invalid("A project needs a name.")
    project_create_allowed(user=created_by)
    checkpoint_allowed(user=created_by, checkpoint=sam_checkpoint)
    _check_description(description)
    labels_check_room(project=None, adding=len(labels or []))
    project = Project.objects.create(
        name=name.strip(),
        description=description,
        created_by=created_by,
        sam_model=sam_model_get_or_create(checkpoint=sam_checkpoint),
    )
    Membership.objects.create(project=project, user=created_by, role=Role.OWNER)
    # (name, colour) or (name, colour, kind): an object label unless the kind says tag.
    for label_name, color, *kind in labels or []:
        label_create(
            project=project, name=label_name, color=color, kind=kind[0] if kind else "object"
        )
    return project


def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    if name is not None:
        if not name.strip():
            raise Invalid("A project needs a name.")
        project.name = name.strip()
    if description is not None:
        _check_description(description)
        project.description = description
    project.save(update_fields=["name", "description"])
    return project


def project_delete(*, project: Project) -> None:
    with transaction.atomic():
        # Annotations protect their labels; the whole project goes, so drop them first.
        Annotation.objects.filter(image__project=project).delete()
        files = selectors.project_stored_files(project=project)
        project.delete()
    transaction.on_commit(lambda: files_delete(files=files))


def files_delete(*, files: list[tuple[Any, str]]) -> None:
    """Delete stored files (storage, name) after the rows that named them are gone."""
    for storage, name in files:
        # An orphan file is harmless; a request failing after its commit is not.
        with contextlib.suppress(Exception):
            storage.delete(name)


def membership_set(*, project: Project, user: User, role: str, by_role: str) -> Membership:
    """Add a member or change a role. Only owners appoint or demote owners and managers."""
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}; one of {', '.join(Role.values)}.")
    existing = Membership.objects.filter(project=project, user=user).first()
    privileged = {Role.OWNER, Role.MANAGER}
    touches_privileged = role in privileged or (existing and existing.role in privileged)
    if touches_privileged and by_role != Role.OWNER:
        raise Invalid("Only an owner can appoint or change owners and managers.")
    if existing and existing.role == Role.OWNER and role != Role.OWNER:
        with transaction.atomic():
            _lock_owners(project_id=project.pk)
            demoted = (
                Membership.objects.filter(pk=existing.pk, role=Role.OWNER)
                .filter(_another_owner(project_id=project.pk, user_id=user.pk))
                .update(role=role)
            )
        if not demoted:
            _explain_owner_refusal(membership=existing)
        existing.refresh_from_db()
        return existing
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def membership_remove(*, membership: Membership, by_role: str) -> None:
    if membership.role in {Role.OWNER, Role.MANAGER} and by_role != Role.OWNER:
        raise Invalid("Only an owner can remove owners and managers.")
    if membership.role != Role.OWNER:
        Membership.objects.filter(pk=membership.pk).exclude(role=Role.OWNER).delete()
        return
    with transaction.atomic():
        # Ids only: loading membership.project here would be a read before the lock.
        _lock_owners(project_id=membership.project_id)
        deleted, _ = (
            Membership.objects.filter(pk=membership.pk)
            .filter(_another_owner(project_id=membership.project_id, user_id=membership.user_id))
            .delete()
        )
    if not deleted:
        _explain_owner_refusal(membership=membership)


# The last-owner rule is one conditional write ("remove this owner only if another owner
# exists"), never a read followed by an unguarded write, and it runs after a lock every change
# of the project's owners takes first. The lock is a write that changes nothing to the project's
# row: on PostgreSQL the row lock makes the second of two owners removing each other wait until
# the first commits, and its conditional write (a fresh snapshot) then sees that change; on
# SQLite a transaction whose first statement writes waits for the single writer's lock (the busy
# timeout), where one that read first fails with "database is locked" when another writes.


def _lock_owners(*, project_id: int) -> None:
    Project.objects.filter(pk=project_id).update(name=F("name"))


def _another_owner(*, project_id: int, user_id: int) -> Exists:
    return Exists(
        Membership.objects.filter(project_id=project_id, role=Role.OWNER).exclude(user_id=user_id)
    )


def _explain_owner_refusal(*, membership: Membership) -> None:
    """Why the conditional write changed nothing: the row is gone, or it is the last owner."""
    if not Membership.objects.filter(pk=membership.pk).exists():
        raise NotFound("That member is no longer in the project.")
    raise Conflict("A project must keep at least one owner.")


def _check_description(description: str) -> None:
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(f"A description has no more than {MAX_DESCRIPTION} characters.")


def labels_check_room(*, project: Project | None, adding: int) -> None:
    """Invalid when `adding` new labels would take the project past MAX_LABELS. Callers that
    add many (project creation, annotation imports) ask once, before the first insert, so a
    file with 50,000 categories is refused without 50,000 queries."""
    existing = project.labels.count() if project is not None else 0
    if existing + adding > MAX_LABELS:
        raise Invalid(
            f"A project has no more than {MAX_LABELS} labels; this would make {existing + adding}."
        )


def _check_color(color: str) -> str:
    value = color.strip().lower()
    if len(value) != 7 or value[0] != "#" or any(c not in "0123456789abcdef" for c in value[1:]):
        raise Invalid(f"Colour {color!r} is not #rrggbb.")
    return value


def _check_label_name(name: str) -> str:
    # Imports create labels from names in the file; the column is 100 characters, which SQLite
    # ignores and PostgreSQL enforces with an error (a 500).
    limit = Label._meta.get_field("name").max_length or 100
    if not name.strip():
        raise Invalid("A label needs a name.")
    if len(name.strip()) > limit:
        raise Invalid(f"Label name {name.strip()[:40]!r}... is over {limit} characters.")
    return name.strip()


def _check_kind(kind: str) -> str:
    if kind not in Label.Kind.values:
        raise Invalid(f"Unknown label kind {kind!r}; one of {', '.join(Label.Kind.values)}.")
    return kind


def label_create(
    *, project: Project, name: str, color: str = "#ff0000", kind: str = "object"
) -> Label:
    _check_kind(kind)
    _check_label_name(name)
    labels_check_room(project=project, adding=1)
    if project.labels.filter(name=name.strip()).exists():
        raise Conflict(f"The project already has a label {name.strip()!r}.")
    # New labels go last in the manager's order (services/project_settings.label_reorder).
    last = project.labels.aggregate(m=Max("order"))["m"]
    return Label.objects.create(
        project=project,
        name=name.strip(),
        color=_check_color(color),
        order=0 if last is None else last + 1,
        kind=kind,
    )


def label_update(
    *, label: Label, name: str | None = None, color: str | None = None, kind: str | None = None
) -> Label:
    if name is not None:
        _check_label_name(name)
        if label.project.labels.filter(name=name.strip()).exclude(pk=label.pk).exists():
            raise Conflict(f"The project already has a label {name.strip()!r}.")
        label.name = name.strip()
    if color is not None:
        label.color = _check_color(color)
    if kind is not None and _check_kind(kind) != label.kind:
        # Objects of a tag, or tags of an object label, would be neither: only an unused
        # label changes kind.
        if label.annotations.exists() or label.tagged_images.exists():
            raise Conflict("The label is in use; only an unused label changes its kind.")
        if kind == Label.Kind.TAG:
            label.attributes.all().delete()
        label.kind = kind
    label.save()
    return label


def label_delete(*, label: Label) -> None:
    if label.annotations.exists():
        raise Conflict("The label is used by annotations; delete or relabel them first.")
    if label.tagged_images.exists():
        raise Conflict("The label tags images; take the tag off them first.")
    label.delete()
