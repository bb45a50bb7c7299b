"""Every route in the URL configuration, with every method, against every caller: the answers
must be the ones permission_table.TABLE writes down.

The routes come from walking the resolver, not from a list, so a route added without a row in
the table fails here until someone decides (and writes down) who may use it. Each request runs
in a savepoint that is rolled back, so a DELETE by one caller leaves the object for the next.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern

from annotator import services
from annotator.models import Job, Project, ReviewIssue, SamModel
from tests import factories
from tests.security.permission_table import (
    ADMIN,
    ANY,
    CALLERS,
    LOGIN,
    METHODS,
    NA,
    OTHER,
    TABLE,
    Form,
    Refs,
    Row,
)

# --- The routes, from the resolver ---------------------------------------------------------------

_ROUTE_KWARG = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_KWARG = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def _walk(resolver: URLResolver, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    for entry in resolver.url_patterns:
        parts = (*prefix, entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, parts)
        elif isinstance(entry, URLPattern):
            yield parts


def _route(parts: tuple[Any, ...]) -> str:
    """The route the way Django's ResolverMatch.route spells it (an inner regex loses its ^)."""
    route = ""
    for part in parts:
        text = str(part)
        route += text[1:] if route and text.startswith("^") else text
    return route


ROUTES: dict[str, tuple[Any, ...]] = {_route(parts): parts for parts in _walk(get_resolver())}

# Kwargs that name an object of a project: the ones another project's ids go into.
PROJECT_KWARGS = {"pk", "label_id", "user_id", "sha256", "attribute_id"}
# Fields of Refs that name a project's object (users are global: any user can be added).
BODY_REFS = ("project", "image", "annotation", "label", "spare_label", "member", "job", "issue",
             "sha256", "attribute")  # fmt: skip
_PK_OBJECT = {"projects": "project", "images": "image", "annotations": "annotation", "jobs": "job",
              "issues": "issue", "proposals": "proposal"}  # fmt: skip


def _kwarg(route: str, name: str, refs: Refs) -> str:
    if name == "pk":
        owner_segment = route.split("<int:pk>")[0].rstrip("/").rsplit("/", 1)[-1]
        if owner_segment == "image":  # the admin's thumbnail route
            return str(refs.image)
        return str(getattr(refs, _PK_OBJECT[owner_segment]))
    fixed = {
        "label_id": refs.spare_label,
        "attribute_id": refs.attribute,
        "user_id": refs.member,
        "sha256": refs.sha256,
        "name": "decode.onnx",
        "size": 64,
        "object_id": refs.project,
        "id": refs.assignee,
        "content_type_id": 1,
        "app_label": "annotator",
        "url": "nowhere/",
        "uidb64": "MQ",
        "token": "not-a-token",
    }
    if name not in fixed:
        raise AssertionError(f"{route}: teach _kwarg how to fill <{name}>")
    return str(fixed[name])


def kwarg_names(route: str) -> list[str]:
    return [name for part in ROUTES[route] for name in _names(part)]


def _names(part: Any) -> list[str]:
    pattern = _REGEX_KWARG if isinstance(part, RegexPattern) else _ROUTE_KWARG
    return pattern.findall(str(part))


def url_for(route: str, refs: Refs, overrides: dict[str, Refs] | None = None) -> str:
    """The route's URL with its kwargs taken from `refs` (or, per kwarg, from `overrides`)."""
    overrides = overrides or {}
    path = ""
    for part in ROUTES[route]:
        text = str(part)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return _kwarg(route, name, overrides.get(name, refs))

        if isinstance(part, RegexPattern):
            path += _REGEX_KWARG.sub(fill, text).removeprefix("^").removesuffix("$")
        else:
            path += _ROUTE_KWARG.sub(fill, text)
    url = "/" + path
    assert resolve(url).route == route, f"{url} does not resolve to {route}"
    return url


# --- The table, expanded to one row per concrete method ------------------------------------------


def expand(table: list[Row]) -> tuple[dict[tuple[str, str], Row], list[str]]:
    """(route, method) -> row, and the mistakes in the table's own shape."""
    rows: dict[tuple[str, str], Row] = {}
    problems: list[str] = []
    by_route: dict[str, list[Row]] = {}
    for row in table:
        by_route.setdefault(row.route, []).append(row)
    for route, route_rows in by_route.items():
        named = [row.method for row in route_rows if row.method not in (OTHER, ANY)]
        for row in route_rows:
            if row.method == ANY:
                methods = list(METHODS)
            elif row.method == OTHER:
                methods = [m for m in METHODS if m not in named]
            elif row.method in METHODS:
                methods = [row.method]
            else:
                problems.append(f"{route}: unknown method {row.method!r}")
                continue
            if row.method in (OTHER, ANY) and row.body is not None:
                problems.append(f"{route} {row.method}: a row for several methods has no body")
            for method in methods:
                if (route, method) in rows:
                    problems.append(f"{route} {method}: listed twice")
                rows[(route, method)] = row
        missing = [m for m in METHODS if (route, m) not in rows]
        if missing:
            problems.append(f"{route}: no row for {', '.join(missing)} (add an OTHER row)")
    return rows, problems


EXPECTED, TABLE_PROBLEMS = expand(TABLE)


def test_the_table_lists_every_route_once_and_only_routes_that_exist() -> None:
    listed = {route for route, _ in EXPECTED}
    problems = list(TABLE_PROBLEMS)
    problems += [f"route not in the table: {r!r}" for r in sorted(set(ROUTES) - listed)]
    problems += [f"table lists a route that does not exist: {r!r}" for r in sorted(listed - set(ROUTES))]  # fmt: skip
    for (route, method), row in EXPECTED.items():
        if route not in ROUTES:
            continue
        project_kwargs = PROJECT_KWARGS & set(kwarg_names(route))
        if project_kwargs and not route.startswith("admin/") and row.foreign == NA:
            problems.append(f"{route} {method}: names {sorted(project_kwargs)}; give `foreign`")
    assert not problems, "\n".join(problems)


# --- Two projects, a user per role, and the objects the routes name ------------------------------


@dataclasses.dataclass
class World:
    refs: dict[str, Refs]  # "A", "B", "missing"
    users: dict[str, Any]  # caller -> user (no "anon")
    sessions: dict[str, dict[str, str]]  # caller -> the cookies of its logged-in session

    def client(self, caller: str, **kwargs: Any) -> Client:
        client = Client(**kwargs)
        client.cookies = SimpleCookie(self.sessions.get(caller, {}))
        return client

    def refs_for(self, caller: str, project: str = "A") -> Refs:
        refs = self.refs["B" if caller == "foreign" else project]
        user = self.users.get(caller)
        return dataclasses.replace(refs, password=f"pw-{user.username}" if user else "")


def _objects(project: Project, owner: Any, newcomer: Any, assignee: Any) -> Refs:
    label = project.labels.order_by("id").first()
    assert label is not None
    spare = project.labels.create(name="spare", color="#abcdef", kind="tag")
    attribute = project.attributes.create(name="occluded", type="checkbox", default=False)
    # Both projects name their image a.png: names are not ids, and the same name lets a body
    # that names files (a YOLO zip) reach the id checks in either project.
    image = factories.image(project, name="a.png")
    # Submitted: the one status from which both review decisions are allowed.
    image.status = "submitted"
    image.save()
    annotation = factories.annotation(image)
    issue = ReviewIssue.objects.create(
        image=image, annotation=annotation, text="leaks", created_by=owner
    )
    member = factories.member(project, "viewer", username=f"extra-{project.pk}")
    proposal = services.proposals_create(
        image=image,
        items=[services.ProposalIn(rle=annotation.rle, score=0.9, label=label)],
        source="everything",
        created_by=owner,
    )[0]
    job = Job.objects.create(project=project, kind="export", created_by=owner, status="done")
    job.result.save("export.json", ContentFile(b"{}"))
    sha = hashlib.sha256(f"model of {project.name}".encode()).hexdigest()
    SamModel.objects.filter(pk=project.sam_model_id).update(sha256=sha, onnx_status="ready")
    folder = Path(settings.SAM_ONNX_DIR) / sha
    folder.mkdir(parents=True, exist_ok=True)
    decoder = b"not really onnx"
    (folder / "decode.onnx").write_bytes(decoder)
    listed = {"sha256": hashlib.sha256(decoder).hexdigest(), "bytes": len(decoder)}
    (folder / "manifest.json").write_text(json.dumps({"files": {"decode.onnx": listed}}))
    # Served from the media storage, where the exporting worker publishes it for every host.
    services.decoder_publish(sha256=sha, folder=folder)
    return Refs(
        project=project.pk, image=image.pk, image_name="a.png", annotation=annotation.pk,
        label=label.pk, spare_label=spare.pk, member=member.pk, job=job.pk, issue=issue.pk,
        sha256=sha,
        newcomer=newcomer.username, assignee=assignee.pk, proposal=proposal.pk,
        attribute=attribute.pk,
    )  # fmt: skip


def build_world() -> World:
    users: dict[str, Any] = {"owner": factories.user("owner")}
    project_a = factories.project(owner=users["owner"], name="A")
    for role in ("viewer", "annotator", "reviewer", "manager"):
        users[role] = factories.member(project_a, role, username=role)
    users["outsider"] = factories.user("outsider")
    # Another checkpoint, so B's model (and its exported files) is not A's.
    project_b = factories.project(owner=users["outsider"], name="B", sam_checkpoint="sam_vit_b")
    users["foreign"] = users["owner"]
    newcomer = factories.user("newcomer")
    # Hardening, round two (5): managers add people they can see (MEMBER_DIRECTORY=shared):
    # the newcomer shares project C with A's owner and manager, and is in none of A's or B's.
    project_c = factories.project(owner=users["owner"], name="C")
    project_c.memberships.create(user=users["manager"], role="viewer")
    project_c.memberships.create(user=newcomer, role="viewer")
    refs_a = _objects(project_a, users["owner"], newcomer, users["annotator"])
    refs_b = _objects(project_b, users["outsider"], newcomer, users["annotator"])
    missing = Refs(
        project=10**9, image=10**9, image_name="a.png", annotation=10**9, label=10**9,
        spare_label=10**9, member=10**9, job=10**9, issue=10**9, sha256="0" * 64,
        newcomer=newcomer.username, assignee=users["annotator"].pk, proposal=10**9,
        attribute=10**9,
    )  # fmt: skip
    sessions = {}
    for caller, user in users.items():
        client = Client()
        client.force_login(user)
        sessions[caller] = {name: morsel.value for name, morsel in client.cookies.items()}
    return World(
        refs={"A": refs_a, "B": refs_b, "missing": missing}, users=users, sessions=sessions
    )


def make_world(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """The world, with media and exported models in tmp_path and nothing sent to a broker."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SAM_ONNX_DIR = str(tmp_path / "onnx")
    # PBKDF2 is slow on purpose; these tests log in and change passwords hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from annotator import queue

    # Tasks enqueued on commit never run (each request is rolled back); these are sent at once.
    monkeypatch.setattr(queue, "publish", lambda name, args, **options: None)
    return build_world()


@pytest.fixture
def world(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(settings, tmp_path, monkeypatch)


# --- Sending a request and judging its answer -----------------------------------------------------


def send(
    client: Client, method: str, url: str, body: Any, headers: dict[str, str] | None = None
) -> HttpResponseBase:
    """One request in a savepoint that is rolled back afterwards."""
    with transaction.atomic():
        try:
            if body is None:
                response = client.generic(method, url, headers=headers)
            elif isinstance(body, Form):
                assert method == "POST", f"{url}: a form body goes with POST"
                response = client.post(url, dict(body), headers=headers)
            else:
                response = client.generic(
                    method, url, json.dumps(body), content_type="application/json", headers=headers
                )
        finally:
            transaction.set_rollback(True)
    if response.streaming:
        # Reading to the end closes the file the way the test client intends; response.close()
        # here would fire request_finished, which closes the test's database connection.
        b"".join(response.streaming_content)
    return response


def matches(expected: int | str, response: HttpResponseBase) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith(settings.LOGIN_URL)
    if expected == ADMIN:
        return response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
    return response.status_code == expected


def describe(response: HttpResponseBase) -> str:
    got = str(response.status_code)
    if response.status_code in (301, 302):
        got += f" -> {response['Location']}"
    content = getattr(response, "content", b"")[:160]
    return f"{got} {content!r}" if response.status_code >= 400 else got


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_gets_what_the_table_says(world: World, caller: str) -> None:
    """Every listed route and method; HEAD rides along with GET and must answer the same."""
    client = world.client(caller)
    refs = world.refs_for(caller)
    failures = []
    tried = 0
    for (route, method), row in sorted(EXPECTED.items()):
        expected = getattr(row, caller)
        if expected == NA or route not in ROUTES:
            continue
        url = url_for(route, refs)
        for sent in ("GET", "HEAD") if method == "GET" else (method,):
            body = row.body(refs) if row.body and row.method == method else None
            client.cookies = SimpleCookie(world.sessions.get(caller, {}))
            try:
                response = send(client, sent, url, body)
            except Exception as exc:  # noqa: BLE001 - a crash is one more wrong answer
                failures.append(f"{sent} {url} ({route}): expected {expected}, raised {exc!r}")
                continue
            tried += 1
            if not matches(expected, response):
                failures.append(
                    f"{sent} {url} ({route}): expected {expected}, got {describe(response)}"
                )
    assert tried > 0
    assert not failures, f"{len(failures)} of {tried} answers differ from the table:\n" + "\n".join(
        failures
    )


@pytest.mark.django_db
def test_options_never_tells_whether_an_object_exists(world: World) -> None:
    """OPTIONS is not in the table (DRF answers it with the view's metadata, without looking
    the object up); whatever it answers must be the same for A's, B's and missing ids."""
    failures = []
    tried = 0
    for caller in ("anon", "outsider", "owner"):
        client = world.client(caller)
        for route in sorted(ROUTES):
            answers = {}
            for which in ("A", "B", "missing"):
                client.cookies = SimpleCookie(world.sessions.get(caller, {}))
                refs = world.refs[which]
                answers[which] = send(client, "OPTIONS", url_for(route, refs), None)
            tried += 1
            codes = {which: response.status_code for which, response in answers.items()}
            if len(set(codes.values())) != 1 or codes["A"] >= 500:
                failures.append(f"OPTIONS {route} as {caller}: {codes}")
    assert tried > 100
    assert not failures, "\n".join(failures)


# --- Another project's ids, anywhere in a request, answer like ids that do not exist --------------


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value.read() if hasattr(value, "read") else value


def _normalised(response: HttpResponseBase) -> tuple[int, bytes]:
    return response.status_code, re.sub(rb"\d+", b"N", getattr(response, "content", b""))


@pytest.mark.django_db
def test_another_projects_ids_answer_exactly_like_missing_ids(world: World) -> None:
    """A's owner, in A's routes, with some or all of the ids (URL kwargs, then body fields)
    swapped for B's, must get the answer that ids which exist nowhere get: nothing in it may
    tell that B's objects exist."""
    client = world.client("owner")
    refs_a = world.refs_for("owner")
    # The caller's own password stays: it is not a project's object.
    swaps = {
        which: dataclasses.replace(world.refs[which], password=refs_a.password)
        for which in ("B", "missing")
    }
    failures = []
    tried = 0
    for (route, method), row in sorted(EXPECTED.items()):
        if route.startswith("admin/") or row.method != method or route not in ROUTES:
            continue
        names = sorted(PROJECT_KWARGS & set(kwarg_names(route)))
        for size in range(1, len(names) + 1):
            for swapped in itertools.combinations(names, size):
                answers = {}
                for which, refs in swaps.items():
                    url = url_for(route, refs_a, {name: refs for name in swapped})
                    body = row.body(refs_a) if row.body else None
                    client.cookies = SimpleCookie(world.sessions["owner"])
                    answers[which] = send(client, method, url, body)
                tried += 1
                if answers["B"].status_code != 404 or _normalised(answers["B"]) != _normalised(
                    answers["missing"]
                ):
                    failures.append(
                        f"{method} {route} with B's {', '.join(swapped)}: "
                        f"{describe(answers['B'])} vs missing: {describe(answers['missing'])}"
                    )
        if row.body is None:
            continue
        # Then each id in the body on its own, so that a check on one field cannot hide a
        # missing check on another (bulk: A's image, B's annotation to delete).
        for field in BODY_REFS:
            swapped_refs = {
                which: dataclasses.replace(refs_a, **{field: getattr(refs, field)})
                for which, refs in swaps.items()
            }
            if _comparable(row.body(refs_a)) == _comparable(row.body(swapped_refs["missing"])):
                continue  # the body does not name this object
            answers = {}
            for which, refs in swapped_refs.items():
                client.cookies = SimpleCookie(world.sessions["owner"])
                answers[which] = send(client, method, url_for(route, refs_a), row.body(refs))
            tried += 1
            if answers["B"].status_code < 400 or _normalised(answers["B"]) != _normalised(
                answers["missing"]
            ):
                failures.append(
                    f"{method} {route} with B's {field} in the body: "
                    f"{describe(answers['B'])} vs missing: {describe(answers['missing'])}"
                )
    assert tried > 20
    assert not failures, "\n".join(failures)
