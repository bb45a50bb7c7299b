"""Who a user may add to a project, found by username or e-mail address without telling
whether anyone else exists ("Hardening, round two", 5).

A caller sees (MEMBER_DIRECTORY): staff, everyone; `shared` (the default), the users who share
a project with them; `all`, every active user. Whoever is not visible answers exactly like a
name nobody has, so the answers to "add alice" cannot be used to learn which accounts exist.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from annotator.models import Membership, Project
from annotator.services.errors import Invalid, User


def user_directory(*, by: User) -> QuerySet:
    """The active users `by` may see and name."""
    users = get_user_model().objects.filter(is_active=True)
    if getattr(by, "is_staff", False) or settings.MEMBER_DIRECTORY == "all":
        return users
    shared = Membership.objects.filter(
        project__in=Membership.objects.filter(user_id=by.pk).values("project_id")
    ).values("user_id")
    return users.filter(Q(pk__in=shared) | Q(pk=by.pk))


def member_find(*, by: User, name: str | None = None, user_id: int | None = None) -> User:
    """The user to add: by username or e-mail address (anyone), or by id (staff only: ids
    are sequential, so an id form for everyone lists the accounts one by one)."""
    if user_id is not None:
        if not getattr(by, "is_staff", False):
            raise Invalid("Add members by `username` or `email`; the `user` id form is for staff.")
        found = user_directory(by=by).filter(pk=user_id).first()
        if found is None:
            raise Invalid(f"No active user has id {user_id}.")
        return found
    name = (name or "").strip()
    if not name:
        raise Invalid("Give the new member's `username` or `email`.")
    visible = user_directory(by=by)
    found = visible.filter(username=name).first()
    if found is None and "@" in name:
        matches = list(visible.filter(email__iexact=name)[:2])
        if len(matches) > 1:
            raise Invalid(f"Several users have the address {name!r}; give the username.")
        found = matches[0] if matches else None
    if found is None:
        # One answer for "nobody has that name" and "someone has it whom you may not see".
        raise Invalid(
            f"No user you can add is called {name!r}: give the username or e-mail address of "
            "someone who shares a project with you, or ask an administrator to add them."
        )
    return found


def project_member(*, project: Project, user_id: int | None) -> User | None:
    """A project's member by id (None stays None: no one). Anyone else, whether or not the id
    exists, is the same 400, so an assignment cannot be used to find accounts."""
    if user_id is None:
        return None
    membership = project.memberships.select_related("user").filter(user_id=user_id).first()
    if membership is None:
        raise Invalid("The assignee is not a member of the project.")
    return membership.user
