"""Schemathesis against the live OpenAPI schema: every operation, no 5xx.

The schema is the one the server serves (/api/schema/?format=json, fetched as a logged-in
user), and requests go to the Django WSGI application in this process, authenticated with the
token of a project's owner. Path parameters are the ids of real objects of that project, so the
generated bodies and query strings reach the views' validation instead of stopping at a 404.

Bounded for CI: a fixed seed and derandomized Hypothesis (the same requests on every run),
FUZZ_EXAMPLES examples per operation plus Schemathesis' deterministic example and coverage
phases, no deadline. Nothing is excluded: no operation computes an embedding or decodes SAM in
the request (embeddings and exports are enqueued, and the broker is the backend tests' recorder;
predict answers 202 while the image's embedding is pending, which it is here).

Checks: no 5xx on any response (schemathesis' not_a_server_error), and every error answer is
JSON with a readable `detail` (this project's error contract). Successful answers are checked
against the schema where that is cheap: the JSON bodies of 2xx responses must validate against
the documented response schema (response_schema_conformance).

The schema can only say that a job's `params` is an object; a Hypothesis test at the end draws
the keys the services read, with arbitrary JSON values and real ids, for the same no-5xx check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from annotator import services
from annotator.models import Job, ReviewIssue, Role
from tests import factories
from tests.backend import conftest as backend

# The backend fixtures (media in a temp dir and no broker, both autouse; a client per role):
# pytest finds fixtures among a module's attributes.
client_for, media_root, no_broker = backend.client_for, backend.media_root, backend.no_broker

FUZZ_EXAMPLES = 20
SEED = 20261125
CONFIG = SchemathesisConfig.from_dict({"seed": SEED})


@pytest.fixture
def owned(db: None) -> dict[str, Any]:
    """A project with a label, a member, an image with an annotation and a review issue, a job,
    and the ids and
    the token of its owner."""
    owner = factories.user("owner")
    project = factories.project(owner=owner)
    member = factories.member(project, Role.ANNOTATOR, username="annotator")
    image = factories.image(project, data=factories.png_bytes(64, 48, seed=1), name="a.png")
    annotation = factories.annotation(image)
    job = Job.objects.create(project=project, kind="export", params={}, created_by=owner)
    issue = ReviewIssue.objects.create(
        image=image, annotation=annotation, text="leaks", created_by=owner
    )
    proposal = services.proposals_create(
        image=image,
        items=[services.ProposalIn(rle=annotation.rle, score=0.5)],
        source="everything",
        created_by=owner,
    )[0]
    # Shapes: a label attribute, for the attribute routes.
    attribute = project.attributes.create(name="occluded", type="checkbox")
    sam_model = project.sam_model
    # As a worker would have resolved it, so the model routes look the model up.
    sam_model.sha256 = "ab" * 32
    sam_model.save(update_fields=["sha256"])
    return {
        "token": Token.objects.create(user=owner).key,
        "owner": owner,
        "ids": {
            "projects": project.pk,
            "images": image.pk,
            "annotations": annotation.pk,
            "jobs": job.pk,
            "issues": issue.pk,
            "proposals": proposal.pk,
            "user_id": member.pk,
            "label_id": project.labels.first().pk,
            "sha256": sam_model.sha256,
            "name": "decode.onnx",
            "attribute_id": attribute.pk,
        },
    }


@pytest.fixture(autouse=True)
def keep_the_test_connection() -> Iterator[None]:
    """The WSGI handler closes the database connection when a request finishes, which would
    close the test's transaction; Django's own test client disconnects the same handlers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _served_schema() -> dict[str, Any]:
    """What GET /api/schema/?format=json serves: drf-spectacular's generator, run at collection
    (Schemathesis needs the operations before any fixture exists; its lazy from_fixture loader
    reads a pytest internal that pytest 9 removed). test_the_fuzzed_schema_is_the_served_one
    checks that the two agree."""
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


SCHEMA = _served_schema()
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)
schema.app = get_wsgi_application()


@pytest.mark.django_db
def test_the_fuzzed_schema_is_the_served_one(owned: dict[str, Any], client_for: Any) -> None:
    served = client_for(owned["owner"]).get("/api/schema/?format=json")
    assert served.status_code == 200
    assert json.loads(served.content) == SCHEMA


def _real_path_parameters(case: Any, ids: dict[str, Any]) -> None:
    """`{id}` means the object the path is about (/api/<collection>/{id}/...)."""
    if not case.path_parameters:
        return
    collection = case.path.strip("/").split("/")[1]
    for name in case.path_parameters:
        case.path_parameters[name] = ids[collection] if name == "id" else ids[name]


@schema.parametrize()
@hypothesis.settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@pytest.mark.django_db
def test_no_operation_answers_a_server_error(case: Any, owned: dict[str, Any]) -> None:
    _real_path_parameters(case, owned["ids"])
    response = case.call(headers={"Authorization": f"Token {owned['token']}"})
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith(
        "application/json"
    ):
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), response.text[:300]


# --- Free-form job parameters --------------------------------------------------------------------

# The schema says only that a job's `params` is an object, so the fuzzer above draws random keys.
# The keys the services read are drawn here, with arbitrary JSON and the project's real ids.
PARAM_KEYS = [
    "format", "label", "detector", "mask_mode", "rle", "conf", "class_labels", "status",
    "image_ids", "boxes", "points_per_side", "points_per_batch", "pred_iou_thresh",
    "stability_score_thresh", "box_nms_thresh", "min_mask_region_area", "crop_n_layers",
    "phrases", "engine", "mode", "score_threshold", "mask_threshold", "min_score",
]  # fmt: skip
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.django_db
@hypothesis.settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(data=st.data())
def test_job_parameters_never_answer_a_server_error(
    data: st.DataObject, owned: dict[str, Any], client_for: Any
) -> None:
    ids = owned["ids"]
    real = st.sampled_from([ids["label_id"], ids["images"], str(ids["images"]), [ids["images"]]])
    boxes = st.dictionaries(
        st.sampled_from([str(ids["images"]), "0", "x"]),
        st.lists(st.lists(st.floats() | st.integers(-100, 100), max_size=5), max_size=3),
        max_size=2,
    )
    params = data.draw(
        st.dictionaries(st.sampled_from(PARAM_KEYS), json_values | real | boxes, max_size=6)
    )
    kind = data.draw(st.sampled_from(["export", "everything", "auto_annotate", "text"]))
    body = json.dumps({"kind": kind, "params": params})  # NaN/inf as the JSON parser sees them
    client = client_for(owned["owner"])
    client.raise_request_exception = False
    response = client.post(
        f"/api/projects/{ids['projects']}/jobs/", body, content_type="application/json"
    )
    assert response.status_code < 500, (params, response.content[:300])
    if response.status_code >= 400:
        assert response.json()["detail"]
