"""What every route answers to every caller: the one table test_permission_matrix.py checks.

Callers (the columns):

    anon      nobody logged in
    outsider  logged in, a member of another project (B) only
    V A R M O viewer, annotator, reviewer, manager, owner of project A
    foreign   A's owner using project B's objects: every id in the URL and in the body is B's

Cells: an HTTP status; LOGIN, a redirect to the login page; ADMIN, a redirect to the admin's
login (none of these callers is staff); NA, the route names no project object, so there is no
other project's id to try.

The policy the cells write down (annotator/permissions.py): the API answers 403 to anonymous
callers (SessionAuthentication comes first, and it sends no WWW-Authenticate challenge), 404 to
anyone outside the object's project, and 403 to a member whose role lacks the capability.
Another project's id must answer 404, never 403, or a 403 would confirm that the id exists.
Users are not a project's objects, but nor are they public: a manager adds people by username
or e-mail among those they may see (MEMBER_DIRECTORY: people sharing a project with them, or
everyone; staff see everyone, and only staff may name a user id), and anyone else answers like a
name nobody has (tests/security/test_policy_quotas.py). The bodies below name users the same way
for every caller: `newcomer` shares a project (C) with A's owner and manager only.

Method OTHER stands for each of GET POST PUT PATCH DELETE that a route's other rows do not name,
ANY for all five. A new route fails the test until it is written down here.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tests import factories

LOGIN = "login"  # 302 to settings.LOGIN_URL
ADMIN = "admin"  # 302 to the admin's login page
NA = "n/a"  # no project object in the route: the foreign caller is not tried

OTHER = "OTHER"
ANY = "ANY"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

Expected = int | str


@dataclass(frozen=True)
class Refs:
    """The ids a request names. Project A's, project B's (the foreign caller) or ids that exist
    nowhere; users are global (one can be added to any project), so `newcomer` and `assignee`
    are the same in every set."""

    project: int
    image: int
    image_name: str
    annotation: int
    label: int
    spare_label: int  # a label nothing uses, to delete; an image tag (for the tag routes)
    member: int  # user id of a viewer who is there to be changed or removed
    job: int
    issue: int  # an open review issue pinned on `image`
    sha256: str
    newcomer: str  # username of a user in none of A's and B's (C, with A's owner and manager)
    assignee: int  # user id of A's annotator
    password: str = ""  # the caller's own, for the password-change form
    proposal: int = 0  # a pending proposal on `image`
    attribute: int = 0  # a label attribute of the project (`occluded`, a checkbox)


class Form(dict[str, Any]):
    """A multipart form body (file uploads, Django's own forms); other bodies go as JSON."""


Body = Callable[[Refs], "dict[str, Any] | Form"]


class Row(NamedTuple):
    route: str
    method: str
    anon: Expected
    outsider: Expected
    viewer: Expected
    annotator: Expected
    reviewer: Expected
    manager: Expected
    owner: Expected
    foreign: Expected
    body: Body | None = None


CALLERS = ("anon", "outsider", "viewer", "annotator", "reviewer", "manager", "owner", "foreign")


# --- Bodies valid enough for the allowed callers to succeed, so the table tests permissions ----


def _upload(r: Refs) -> Form:
    return Form(files=[factories.upload(factories.png_bytes(seed=4242), "new.png")])


def _yolo_boxes(r: Refs) -> Form:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        stem = r.image_name.rsplit(".", 1)[0]
        archive.writestr(f"{stem}.txt", "0 0.5 0.5 0.25 0.25\n")
    upload = factories.upload(out.getvalue(), "boxes.zip")
    return Form(file=upload, format="yolo_boxes", label=str(r.label))


def _auto_annotate(r: Refs) -> dict[str, Any]:
    return {"kind": "auto_annotate", "params": {"boxes": {str(r.image): [[1, 1, 20, 20]]}, "label": r.label}}  # fmt: skip


def _text_job(r: Refs) -> dict[str, Any]:
    return {"phrases": ["cup"], "image_ids": [r.image]}


def _annotation(r: Refs) -> dict[str, Any]:
    return {"label": r.label, "polygons": factories.square(1, 1, 5)}


def _annotation_put(r: Refs) -> dict[str, Any]:
    return {"version": 1, "label": r.label, "polygons": factories.square(1, 1, 2)}


def _bulk(r: Refs) -> dict[str, Any]:
    return {"image": r.image, "create": [_annotation(r)], "delete": [r.annotation]}


def _issue(r: Refs) -> dict[str, Any]:
    return {"text": "this edge leaks into the background", "annotation": r.annotation}


def _password_change(r: Refs) -> Form:
    new = "a-new-passphrase-8271"
    return Form(old_password=r.password, new_password1=new, new_password2=new)


def _bad_login(r: Refs) -> Form:
    return Form(username="nobody", password="wrong")


def _member(r: Refs) -> dict[str, Any]:
    return {"username": r.newcomer, "role": "viewer"}


# fmt: off
# route                                         method    anon   outsd  V      A      R      M      O      foreign
TABLE: list[Row] = [
    # Health and the account pages: Django's auth views, whose form views take PUT as POST.
    Row("healthz",                                  "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("healthz",                                  OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    # Operators only: staff (none of these callers) or the METRICS_TOKEN bearer token.
    Row("metrics",                                  "GET",    403,   403,   403,   403,   403,   403,   403,   NA),
    Row("metrics",                                  OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("accounts/login/",                          "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/login/",                          "POST",   200,   200,   200,   200,   200,   200,   200,   NA, _bad_login),
    Row("accounts/login/",                          "PUT",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/login/",                          OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("accounts/logout/",                         "POST",   302,   302,   302,   302,   302,   302,   302,   NA),
    Row("accounts/logout/",                         OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("accounts/password_change/",                "GET",    LOGIN, 200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/password_change/",                "POST",   LOGIN, 302,   302,   302,   302,   302,   302,   NA, _password_change),
    Row("accounts/password_change/",                "PUT",    LOGIN, 200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/password_change/",                OTHER,    LOGIN, 405,   405,   405,   405,   405,   405,   NA),
    Row("accounts/password_change/done/",           "GET",    LOGIN, 200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/password_change/done/",           OTHER,    LOGIN, 405,   405,   405,   405,   405,   405,   NA),
    Row("accounts/password_reset/",                 "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/password_reset/",                 "POST",   302,   302,   302,   302,   302,   302,   302,   NA, lambda r: Form(email="nobody@example.org")),
    Row("accounts/password_reset/",                 "PUT",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/password_reset/",                 OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("accounts/password_reset/done/",            "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/password_reset/done/",            OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    # A link that is not valid answers the same "invalid link" page to every method.
    Row("accounts/reset/<uidb64>/<token>/",         ANY,      200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/reset/done/",                     "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("accounts/reset/done/",                     OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),

    # The pages: a login redirect for strangers, 404 outside the project, read-only shells.
    Row("",                                         "GET",    LOGIN, 200,   200,   200,   200,   200,   200,   NA),
    Row("",                                         OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("projects/<int:pk>/",                       "GET",    LOGIN, 404,   200,   200,   200,   200,   200,   404),
    Row("projects/<int:pk>/",                       OTHER,    405,   405,   405,   405,   405,   405,   405,   405),
    Row("projects/new/",                            "GET",    LOGIN, 200,   200,   200,   200,   200,   200,   NA),
    Row("projects/new/",                            OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    # The manage area: managers and owners; another role is refused as the API refuses it.
    *(
        row
        for page in ("settings", "people", "dataset", "jobs", "dashboard")
        for row in (
            Row(f"projects/<int:pk>/{page}/",       "GET",    LOGIN, 404,   403,   403,   403,   200,   200,   404),
            Row(f"projects/<int:pk>/{page}/",       OTHER,    405,   405,   405,   405,   405,   405,   405,   405),
        )
    ),
    Row("images/<int:pk>/annotate/",                "GET",    LOGIN, 404,   200,   200,   200,   200,   200,   404),
    Row("images/<int:pk>/annotate/",                OTHER,    405,   405,   405,   405,   405,   405,   405,   405),
    Row("status/",                                  "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("status/",                                  OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),

    # The API. The schema and its docs describe the API, not anyone's data: public.
    Row("api/schema/",                              "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("api/schema/",                              OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("api/docs/",                                "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("api/docs/",                                OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("api/projects/",                            "GET",    403,   200,   200,   200,   200,   200,   200,   NA),
    # PROJECT_CREATORS=everyone (the default); with `staff`, 403 for each of these callers.
    Row("api/projects/",                            "POST",   403,   201,   201,   201,   201,   201,   201,   NA, lambda r: {"name": "New"}),
    Row("api/projects/",                            OTHER,    403,   405,   405,   405,   405,   405,   405,   NA),
    Row("api/projects/<int:pk>/",                   "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    # harden2: the body renames, which needs the owner (Can.OWN); a manager may still change
    # the description alone (tests/backend/test_project_settings_h2.py).
    Row("api/projects/<int:pk>/",                   "PATCH",  403,   404,   403,   403,   403,   403,   200,   404, lambda r: {"name": "Renamed", "description": "x"}),
    Row("api/projects/<int:pk>/",                   "DELETE", 403,   404,   403,   403,   403,   403,   204,   404),
    Row("api/projects/<int:pk>/",                   OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/members/",           "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/members/",           "POST",   403,   404,   403,   403,   403,   201,   201,   404, _member),
    Row("api/projects/<int:pk>/members/",           OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/members/<int:user_id>/", "PATCH", 403, 404,  403,   403,   403,   200,   200,   404, lambda r: {"role": "annotator"}),
    Row("api/projects/<int:pk>/members/<int:user_id>/", "DELETE", 403, 404, 403,   403,   403,   204,   204,   404),
    Row("api/projects/<int:pk>/members/<int:user_id>/", OTHER, 403,  405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/stats/",             "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/stats/",             OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/labels/",            "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/labels/",            "POST",   403,   404,   403,   403,   403,   201,   201,   404, lambda r: {"name": "bird", "color": "#0000ff"}),
    Row("api/projects/<int:pk>/labels/",            OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/labels/<int:label_id>/", "PATCH", 403, 404,  403,   403,   403,   200,   200,   404, lambda r: {"color": "#123456"}),
    Row("api/projects/<int:pk>/labels/<int:label_id>/", "DELETE", 403, 404, 403,   403,   403,   204,   204,   404),
    Row("api/projects/<int:pk>/labels/<int:label_id>/", OTHER, 403,  405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/images/",            "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/images/",            "POST",   403,   404,   403,   403,   403,   201,   201,   404, _upload),
    Row("api/projects/<int:pk>/images/",            OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/next-image",         "GET",    403,   404,   403,   204,   204,   204,   204,   404),
    Row("api/projects/<int:pk>/next-image",         OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/jobs/",              "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/jobs/",              "POST",   403,   404,   403,   403,   403,   202,   202,   404, _auto_annotate),
    Row("api/projects/<int:pk>/jobs/",              OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/exports/",           "POST",   403,   404,   403,   403,   403,   202,   202,   404, lambda r: {"format": "coco"}),
    Row("api/projects/<int:pk>/exports/",           OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/imports/",           "POST",   403,   404,   403,   403,   403,   202,   202,   404, _yolo_boxes),
    Row("api/projects/<int:pk>/imports/",           OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/",                     "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    # The image is submitted: reopening it is a manager's step (services/review.py), and an
    # annotator may neither lock nor edit it until the reviewer decides (409, not 403: their
    # role may, the image's status may not).
    Row("api/images/<int:pk>/",                     "PATCH",  403,   404,   403,   403,   403,   200,   200,   404, lambda r: {"status": "in_progress"}),
    Row("api/images/<int:pk>/",                     "DELETE", 403,   404,   403,   403,   403,   204,   204,   404),
    Row("api/images/<int:pk>/",                     OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/review",               "POST",   403,   404,   403,   403,   200,   200,   200,   404, lambda r: {"decision": "reject", "comment": "edges"}),
    Row("api/images/<int:pk>/review",               "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/review",               OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/issues",               "POST",   403,   404,   403,   403,   201,   201,   201,   404, _issue),
    Row("api/images/<int:pk>/issues",               OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/issues/<int:pk>/resolve",              "POST",   403,   404,   403,   200,   200,   200,   200,   404),
    Row("api/issues/<int:pk>/resolve",              OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/file",                 "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/file",                 OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/lock",                 "POST",   403,   404,   403,   409,   200,   200,   200,   404),
    Row("api/images/<int:pk>/lock",                 "DELETE", 403,   404,   403,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/lock",                 OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/embedding",            "GET",    403,   404,   202,   202,   202,   202,   202,   404),
    Row("api/images/<int:pk>/embedding",            "POST",   403,   404,   403,   403,   403,   202,   202,   404),
    Row("api/images/<int:pk>/embedding",            OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    # No atlas in these fixtures: members get the "none yet" 404 (tests/api/test_atlas.py: 200).
    Row("api/images/<int:pk>/atlas",                "GET",    403,   404,   404,   404,   404,   404,   404,   404),
    Row("api/images/<int:pk>/atlas",                OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/predict",              "POST",   403,   404,   403,   202,   202,   202,   202,   404, lambda r: {"point_coords": [[3, 4]], "point_labels": [1]}),
    Row("api/images/<int:pk>/predict",              OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/annotations/",         "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/annotations/",         "POST",   403,   404,   403,   409,   201,   201,   201,   404, _annotation),
    Row("api/images/<int:pk>/annotations/",         OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/annotations/bulk",                     "POST",   403,   404,   403,   409,   200,   200,   200,   404, _bulk),
    Row("api/annotations/bulk",                     OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/annotations/<int:pk>/",                "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/annotations/<int:pk>/",                "PATCH",  403,   404,   403,   409,   200,   200,   200,   404, lambda r: {"version": 1, "polygons": factories.square(3, 3, 4)}),
    Row("api/annotations/<int:pk>/",                "PUT",    403,   404,   403,   409,   200,   200,   200,   404, _annotation_put),
    Row("api/annotations/<int:pk>/",                "DELETE", 403,   404,   403,   409,   204,   204,   204,   404),
    Row("api/annotations/<int:pk>/",                OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    # Annotation history: the image is submitted, so the annotator's revert is refused as their
    # edit would be (409); a viewer reads the history, never writes it.
    Row("api/images/<int:pk>/history",              "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/history",              OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/history/revert",       "POST",   403,   404,   403,   409,   200,   200,   200,   404, lambda r: {"annotation": r.annotation, "to": 1, "version": 1}),
    Row("api/images/<int:pk>/history/revert",       OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    # Proposals on the submitted image: deciding one writes annotations, so the annotator gets
    # 409 there as for annotation writes; a viewer never decides.
    Row("api/images/<int:pk>/proposals/",           "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/proposals/",           OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/proposals/bulk",       "POST",   403,   404,   403,   409,   200,   200,   200,   404, lambda r: {"action": "drop", "min_score": 0}),
    Row("api/images/<int:pk>/proposals/bulk",       OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/proposals/<int:pk>/keep",              "POST",   403,   404,   403,   409,   200,   200,   200,   404),
    Row("api/proposals/<int:pk>/keep",              OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/proposals/<int:pk>/drop",              "POST",   403,   404,   403,   409,   200,   200,   200,   404),
    Row("api/proposals/<int:pk>/drop",              OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/jobs/<int:pk>/",                       "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/jobs/<int:pk>/",                       OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/jobs/<int:pk>/result",                 "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/jobs/<int:pk>/result",                 OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    # The table's job is done: nothing to cancel, nothing to retry (409 for the roles that may).
    Row("api/jobs/<int:pk>/cancel",                 "POST",   403,   404,   403,   403,   403,   409,   409,   404),
    Row("api/jobs/<int:pk>/cancel",                 OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/jobs/<int:pk>/retry",                  "POST",   403,   404,   403,   403,   403,   409,   409,   404),
    Row("api/jobs/<int:pk>/retry",                  OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/embeddings/",        "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/embeddings/",        OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/detectors",                            "GET",    403,   200,   200,   200,   200,   200,   200,   NA),
    Row("api/detectors",                            OTHER,    403,   405,   405,   405,   405,   405,   405,   NA),
    Row("api/models",                               "GET",    403,   200,   200,   200,   200,   200,   200,   NA),
    Row("api/models",                               OTHER,    403,   405,   405,   405,   405,   405,   405,   NA),
    Row("api/models/<str:sha256>/manifest.json",    "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/models/<str:sha256>/manifest.json",    OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/models/<str:sha256>/files/<str:name>", "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/models/<str:sha256>/files/<str:name>", OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    # Text prompts: a labeler (A, R) on the one image whose edit lock they hold (none here: 409).
    Row("api/projects/<int:pk>/text-jobs/",         "POST",   403,   404,   403,   409,   409,   202,   202,   404, _text_job),
    Row("api/projects/<int:pk>/text-jobs/",         OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/text/status",                          "GET",    403,   200,   200,   200,   200,   200,   200,   NA),
    Row("api/text/status",                          OTHER,    403,   405,   405,   405,   405,   405,   405,   NA),
    # Shapes: label attributes (managed by managers) and image tags (written like annotations:
    # the image is submitted, so an annotator's tag waits for the reviewer: 409).
    Row("api/projects/<int:pk>/attributes/",        "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/projects/<int:pk>/attributes/",        "POST",   403,   404,   403,   403,   403,   201,   201,   404, lambda r: {"name": "truncated", "type": "checkbox"}),
    Row("api/projects/<int:pk>/attributes/",        OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/attributes/<int:attribute_id>/", "PATCH", 403, 404, 403, 403, 403, 200,   200,   404, lambda r: {"default": True}),
    Row("api/projects/<int:pk>/attributes/<int:attribute_id>/", "DELETE", 403, 404, 403, 403, 403, 204,  204,   404),
    Row("api/projects/<int:pk>/attributes/<int:attribute_id>/", OTHER, 403, 405,  405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/tags/<int:label_id>",  "POST",   403,   404,   403,   409,   200,   200,   200,   404),
    Row("api/images/<int:pk>/tags/<int:label_id>",  "DELETE", 403,   404,   403,   409,   200,   200,   200,   404),
    Row("api/images/<int:pk>/tags/<int:label_id>",  OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    # The manage area's dataset and settings routes (api/views/dataset.py).
    Row("api/projects/<int:pk>/images/bulk",        "POST",   403,   404,   403,   403,   403,   200,   200,   404, lambda r: {"action": "assign", "filters": {}, "assignees": [r.assignee]}),
    Row("api/projects/<int:pk>/images/bulk",        OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/images/<int:pk>/thumbnail",            "GET",    403,   404,   200,   200,   200,   200,   200,   404),
    Row("api/images/<int:pk>/thumbnail",            OTHER,    403,   405,   405,   405,   405,   405,   405,   405),
    Row("api/projects/<int:pk>/labels/order",       "PUT",    403,   404,   403,   403,   403,   200,   200,   404, lambda r: {"label_ids": [r.spare_label, r.label]}),
    Row("api/projects/<int:pk>/labels/order",       OTHER,    403,   405,   405,   405,   405,   405,   405,   405),

    # The admin is for staff, and none of these callers is: every admin URL sends them to the
    # admin's login, except the login itself and the logout (back to the admin index).
    Row("admin/login/",                             "GET",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("admin/login/",                             "POST",   200,   200,   200,   200,   200,   200,   200,   NA, _bad_login),
    Row("admin/login/",                             "PUT",    200,   200,   200,   200,   200,   200,   200,   NA),
    Row("admin/login/",                             OTHER,    405,   405,   405,   405,   405,   405,   405,   NA),
    Row("admin/logout/",                            ANY,      302,   302,   302,   302,   302,   302,   302,   NA),
    *[
        Row(route,                                  ANY,      ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, ADMIN, NA)
        for route in [
            "admin/",
            "admin/password_change/",
            "admin/password_change/done/",
            "admin/autocomplete/",
            "admin/jsi18n/",
            "admin/r/<path:content_type_id>/<path:object_id>/",
            "admin/(?P<app_label>auth|authtoken|annotator)/$",
            "admin/(?P<url>.*)$",
            "admin/auth/user/<id>/password/",
            "admin/annotator/image/<int:pk>/thumbnail/<int:size>/",
            *[
                f"admin/{model}/{suffix}"
                for model in [
                    "auth/group", "auth/user", "authtoken/tokenproxy", "annotator/project",
                    "annotator/image", "annotator/annotation", "annotator/embedding",
                    "annotator/sammodel", "annotator/job",
                ]
                for suffix in [
                    "", "add/", "<path:object_id>/history/", "<path:object_id>/delete/",
                    "<path:object_id>/change/", "<path:object_id>/",
                ]
            ],
        ]
    ],
]
# fmt: on
