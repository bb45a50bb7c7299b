"""Two owners removing (or demoting) each other at the same moment ("Hardening, round two", 7).

The last-owner rule used to read the owners and then write: on SQLite the second writer got
"database is locked" (a 500), and on PostgreSQL both could pass the read and leave a project
without an owner. Over real HTTP (the live server answers each request on its own thread and
connection), each round must end with exactly one owner and answers that say what happened:
one success, and for the other a 409 (the last owner stays), a 404 (the caller was removed
first) or a 503 with Retry-After (SQLite busy), never a 500.

Marked `integration`, so `make test-integration` runs it again on PostgreSQL, where the row
locks (not SQLite's single writer) must do the work.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from annotator.models import Membership, Role
from bench.load import Http
from tests import factories
from tests.load.test_concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

ROUNDS = 8  # the issue saw the 500 in 2 of 8 tries


def _two_owners(live_server: Any, round_: int) -> tuple[Any, Any, Any, Http, Http]:
    first = factories.user(f"owner-a-{round_}")
    project = factories.project(owner=first, name=f"race {round_}")
    second = factories.member(project, "owner", username=f"owner-b-{round_}")
    return (
        project,
        first,
        second,
        Http(live_server.url, Token.objects.create(user=first).key),
        Http(live_server.url, Token.objects.create(user=second).key),
    )


def _check(
    project: Any, answers: list[tuple[int, Any]], success: int, also: tuple[int, ...] = ()
) -> None:
    statuses = sorted(status for status, _ in answers)
    owners = Membership.objects.filter(project=project, role=Role.OWNER).count()
    assert owners == 1, f"{owners} owners left; answers {answers}"
    assert success in statuses, answers
    for status, body in answers:
        assert status in (success, 404, 409, 503, *also), answers
        if status >= 400:
            assert body and body.get("detail"), answers


def test_two_owners_removing_each_other_at_once_leave_one_owner(live_server: Any) -> None:
    for round_ in range(ROUNDS):
        project, first, second, a, b = _two_owners(live_server, round_)
        answers = race(
            (a, "DELETE", f"/api/projects/{project.pk}/members/{second.pk}/", None),
            (b, "DELETE", f"/api/projects/{project.pk}/members/{first.pk}/", None),
        )
        _check(project, answers, 204)


def test_two_owners_demoting_each_other_at_once_leave_one_owner(live_server: Any) -> None:
    for round_ in range(ROUNDS):
        project, first, second, a, b = _two_owners(live_server, 100 + round_)
        answers = race(
            (a, "PATCH", f"/api/projects/{project.pk}/members/{second.pk}/", {"role": "viewer"}),
            (b, "PATCH", f"/api/projects/{project.pk}/members/{first.pk}/", {"role": "viewer"}),
        )
        # The second request finds its caller a viewer already (403), or passed the role check
        # before that: its write is then the last owner's demotion, which is refused (409).
        _check(project, answers, 200, also=(403,))


def test_owners_removing_each_other_through_the_service_at_once_leave_one_owner() -> None:
    """The same race without HTTP in between, so the two transactions overlap far more often:
    each thread calls the service on its own database connection."""
    from django.db import connection as main_connection
    from django.db import connections

    from annotator import services
    from annotator.services.errors import ServiceError

    def remove(membership: Membership, results: list[str], i: int) -> None:
        barrier.wait()
        try:
            services.membership_remove(membership=membership, by_role=Role.OWNER)
            results[i] = "removed"
        except ServiceError as exc:
            results[i] = str(exc.status)
        except Exception as exc:  # noqa: BLE001 - the failure this test exists to catch
            results[i] = repr(exc)
        finally:
            connections.close_all()

    import threading

    for round_ in range(30):
        first = factories.user(f"svc-a-{round_}")
        project = factories.project(owner=first, name=f"svc {round_}")
        factories.member(project, "owner", username=f"svc-b-{round_}")
        rows = list(Membership.objects.filter(project=project).order_by("pk"))
        results = ["", ""]
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=remove, args=(rows[i], results, i)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        owners = Membership.objects.filter(project=project, role=Role.OWNER).count()
        assert owners == 1 and sorted(results) in (["404", "removed"], ["409", "removed"]), (
            round_,
            results,
            owners,
            main_connection.vendor,
        )
