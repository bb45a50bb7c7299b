"""Arbitrary JSON thrown at the write endpoints gets a 2xx or a 4xx with a message, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
points = st.lists(
    st.lists(st.floats() | st.integers() | st.text(max_size=3), max_size=3), max_size=5
)
ring = st.lists(
    st.lists(st.floats(-10, 100) | st.integers(-5, 100), min_size=2, max_size=2), max_size=8
)
polygons = (
    st.lists(
        st.fixed_dictionaries({"outer": ring, "holes": st.lists(ring, max_size=2)}), max_size=3
    )
    | json_values
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def ctx(project_with_roles: dict, client_for: Any) -> dict[str, Any]:
    image = factories.image(project_with_roles["project"], data=factories.png_bytes(40, 30))
    return {
        "image": image,
        "label": image.project.labels.first().pk,
        "annotation": factories.annotation(image),
        "client": client_for(project_with_roles["owner"]),
    }


def _post(ctx: dict, url: str, body: Any, method: str = "post") -> Any:
    raw = json.dumps(body, allow_nan=True)
    response = getattr(ctx["client"], method)(url, raw, content_type="application/json")
    assert response.status_code < 500, (url, body, response.content[:300])
    if response.status_code >= 400:
        assert response.json()["detail"]
    return response


@pytest.mark.django_db
@FUZZ
@given(geometry=polygons, score=scalars, source=scalars)
def test_annotation_creation_never_fails_with_a_500(
    ctx: dict, geometry: Any, score: Any, source: Any
) -> None:
    body = {"label": ctx["label"], "polygons": geometry, "score": score, "source": source}
    _post(ctx, f"/api/images/{ctx['image'].pk}/annotations/", body)


@pytest.mark.django_db
@FUZZ
@given(rle=json_values)
def test_annotation_rle_never_fails_with_a_500(ctx: dict, rle: Any) -> None:
    _post(ctx, f"/api/images/{ctx['image'].pk}/annotations/", {"label": ctx["label"], "rle": rle})


@pytest.mark.django_db
@FUZZ
@given(body=json_values, version=scalars)
def test_annotation_updates_never_fail_with_a_500(ctx: dict, body: Any, version: Any) -> None:
    payload = {**body, "version": version} if isinstance(body, dict) else body
    _post(ctx, f"/api/annotations/{ctx['annotation'].pk}/", payload, method="patch")


@pytest.mark.django_db
@FUZZ
@given(coords=points, labels=json_values, box=json_values, multimask=scalars)
def test_prediction_prompts_never_fail_with_a_500(
    ctx: dict, coords: Any, labels: Any, box: Any, multimask: Any
) -> None:
    body = {
        "point_coords": coords,
        "point_labels": labels,
        "box": box,
        "multimask_output": multimask,
    }
    _post(ctx, f"/api/images/{ctx['image'].pk}/predict", body)


@pytest.mark.django_db
@FUZZ
@given(body=json_values)
def test_bulk_requests_and_image_updates_never_fail_with_a_500(ctx: dict, body: Any) -> None:
    _post(ctx, "/api/annotations/bulk", body)
    _post(ctx, f"/api/images/{ctx['image'].pk}/", body, method="patch")
    _post(ctx, f"/api/projects/{ctx['image'].project_id}/members/", body)
    _post(ctx, f"/api/projects/{ctx['image'].project_id}/labels/", body)


@pytest.mark.django_db
@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "status",
                "assignee",
                "unassigned",
                "search",
                "label",
                "embedding",
                "ordering",
                "limit",
                "offset",
            ]
        ),
        st.text(max_size=6),
    )
)
def test_image_list_filters_never_fail_with_a_500(ctx: dict, params: dict) -> None:
    response = ctx["client"].get(f"/api/projects/{ctx['image'].project_id}/images/", params)
    assert response.status_code < 500


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404_and_a_page_url_an_html_one(client: Any) -> None:
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No API endpoint at /api/no-such-endpoint/."
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
