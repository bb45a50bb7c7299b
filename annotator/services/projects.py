"""Projects, their members and their labels."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction

from annotator import selectors
from annotator.models import Annotation, Label, Membership, Project, Role
from annotator.services.errors import Conflict, Invalid, User
from annotator.services.sam_models import sam_model_get_or_create


@transaction.atomic
def project_create(
    *,
    name: str,
    description: str = "",
    created_by: User,
    labels: list[tuple[str, str]] | None = None,
    sam_checkpoint: str | None = None,
) -> Project:
    """Create a project; its creator becomes its owner."""
    if not name.strip():
        raise Invalid("A project needs a name.")
    project = Project.objects.create(
        name=name.strip(),
        description=description,
        created_by=created_by,
        sam_model=sam_model_get_or_create(checkpoint=sam_checkpoint),
    )
    Membership.objects.create(project=project, user=created_by, role=Role.OWNER)
    for label_name, color in labels or []:
        label_create(project=project, name=label_name, color=color)
    return project


def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    if name is not None:
        if not name.strip():
            raise Invalid("A project needs a name.")
        project.name = name.strip()
    if description is not None:
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
    with transaction.atomic():
        if existing and existing.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(project=project, user=user)
        membership, _ = Membership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
    return membership


def membership_remove(*, membership: Membership, by_role: str) -> None:
    if membership.role in {Role.OWNER, Role.MANAGER} and by_role != Role.OWNER:
        raise Invalid("Only an owner can remove owners and managers.")
    with transaction.atomic():
        if membership.role == Role.OWNER:
            _ensure_another_owner(project=membership.project, user=membership.user)
        membership.delete()


def _ensure_another_owner(*, project: Project, user: User) -> None:
    if not project.memberships.filter(role=Role.OWNER).exclude(user=user).exists():
        raise Conflict("A project must keep at least one owner.")


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


def label_create(*, project: Project, name: str, color: str = "#ff0000") -> Label:
    _check_label_name(name)
    if project.labels.filter(name=name.strip()).exists():
        raise Conflict(f"The project already has a label {name.strip()!r}.")
    return Label.objects.create(project=project, name=name.strip(), color=_check_color(color))


def label_update(*, label: Label, name: str | None = None, color: str | None = None) -> Label:
    if name is not None:
        _check_label_name(name)
        if label.project.labels.filter(name=name.strip()).exclude(pk=label.pk).exists():
            raise Conflict(f"The project already has a label {name.strip()!r}.")
        label.name = name.strip()
    if color is not None:
        label.color = _check_color(color)
    label.save()
    return label


def label_delete(*, label: Label) -> None:
    if label.annotations.exists():
        raise Conflict("The label is used by annotations; delete or relabel them first.")
    label.delete()
