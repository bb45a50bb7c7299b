"""Who may do what in a project.

Roles map to capabilities, and every check names a capability, not a role, so adding a role
never means auditing every view. A user who is not a member of the object's project gets 404
(the object does not exist for them); a member without the capability gets 403.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from annotator.models import Membership, Project, Role


class Can(StrEnum):
    READ = "read"  # see images, annotations, embeddings, jobs
    ANNOTATE = "annotate"  # write annotations, lock images, submit, server-side predict
    REVIEW = "review"  # accept or reject submitted images
    MANAGE = "manage"  # upload and delete images, labels, assignment, members, jobs, exports
    OWN = "own"  # rename or delete the project, appoint owners and managers


CAPABILITIES: dict[str, frozenset[Can]] = {
    Role.VIEWER: frozenset({Can.READ}),
    Role.ANNOTATOR: frozenset({Can.READ, Can.ANNOTATE}),
    Role.REVIEWER: frozenset({Can.READ, Can.ANNOTATE, Can.REVIEW}),
    Role.MANAGER: frozenset({Can.READ, Can.ANNOTATE, Can.REVIEW, Can.MANAGE}),
    Role.OWNER: frozenset(Can),
}

User = AbstractBaseUser | AnonymousUser


def role_of(user: User, project: Project | int) -> str | None:
    if not user.is_authenticated:
        return None
    project_id = project if isinstance(project, int) else project.pk
    return (
        Membership.objects.filter(project_id=project_id, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )


def has(user: User, project: Project | int, capability: Can) -> bool:
    role = role_of(user, project)
    return role is not None and capability in CAPABILITIES[role]


def require(user: User, project: Project | int, capability: Can) -> str:
    """Return the caller's role, or raise 404 for outsiders and 403 for a missing capability."""
    role = role_of(user, project)
    if role is None:
        raise Http404("Not found.")
    if capability not in CAPABILITIES[role]:
        raise PermissionDenied(
            f"Your role ({role}) in this project cannot {capability.value}; a project manager "
            "can give you a role that does."
        )
    return role
