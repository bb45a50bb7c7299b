"""The image list's keyset pages (?cursor=), its filters and sorts, next to the offset pages
that existing clients use."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from annotator.models import Annotation, Embedding, Image, Project

STATUSES = ["new", "in_progress", "submitted", "accepted", "rejected"]
NAMES = ["b.png", "A.png", "a.png", "c.jpg", "B2.png", "ab.png", "Zed.png"]


def _rows(project: Project, assignee: Any, n: int = 31) -> list[Image]:
    """n image rows straight into the table (the list never opens the files), with ties in
    every sort key so that the id has to break them."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    images = Image.objects.bulk_create(
        Image(
            project=project, file=f"x/{i}.png", original_name=NAMES[i % len(NAMES)],
            width=1, height=1, sha256=f"{i:064x}", status=STATUSES[i % 5],
            assignee=assignee if i % 3 == 0 else None,
        )
        for i in range(n)
    )  # fmt: skip
    for i, image in enumerate(images):
        Image.objects.filter(pk=image.pk).update(updated_at=base + timedelta(seconds=i % 4))
    label = project.labels.first()
    assert label is not None
    Annotation.objects.bulk_create(
        Annotation(image=image, label=label, polygons=[], rle={}, bbox=[0, 0, 1, 1], area=1)
        for image in images[::4]
    )
    Embedding.objects.bulk_create(
        Embedding(
            image=image, sam_model_id=project.sam_model_id, status=("pending", "ready")[i % 2]
        )
        for i, image in enumerate(images[::2])
    )
    return list(Image.objects.filter(project=project))


def _expected(images: list[Image], ordering: str) -> list[int]:
    keys = {
        "id": lambda im: (im.pk,),
        "name": lambda im: (im.original_name.lower(), im.pk),
        "status": lambda im: (im.status, im.pk),
        "updated": lambda im: (im.updated_at, im.pk),
    }[ordering.lstrip("-")]
    return [im.pk for im in sorted(images, key=keys, reverse=ordering.startswith("-"))]


def _walk(client: Any, url: str, *, limit: int = 7) -> list[int]:
    ids: list[int] = []
    page: dict[str, Any] = client.get(f"{url}&cursor=&limit={limit}").json()
    while True:
        assert page["count"] is None
        ids += [row["id"] for row in page["results"]]
        if page["next"] is None:
            return ids
        page = client.get(page["next"]).json()


@pytest.fixture
def listed(project_with_roles: dict, client_for: Any) -> dict[str, Any]:
    project = project_with_roles["project"]
    annotator = project_with_roles["annotator"]
    images = _rows(project, annotator)
    client = client_for(project_with_roles["viewer"])
    return {
        "project": project, "images": images, "client": client, "annotator": annotator,
        "url": f"/api/projects/{project.pk}/images/",
    }  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["id", "-id", "name", "-name", "status", "-status",
                                      "updated", "-updated"])  # fmt: skip
def test_cursor_pages_walk_every_sort_in_order_without_gaps(listed: dict, ordering: str) -> None:
    walked = _walk(listed["client"], f"{listed['url']}?ordering={ordering}")
    assert walked == _expected(listed["images"], ordering)


def _matches(listed: dict, name: str) -> tuple[str, list[Image]]:
    project, images = listed["project"], listed["images"]
    labelled = set(Annotation.objects.values_list("image_id", flat=True))
    embedded = dict(Embedding.objects.values_list("image_id", "status"))
    label = project.labels.first()
    return {
        "status": ("status=submitted", [i for i in images if i.status == "submitted"]),
        "assignee": (f"assignee={listed['annotator'].pk}",
                     [i for i in images if i.assignee_id == listed["annotator"].pk]),
        "label": (f"label={label.pk}", [i for i in images if i.pk in labelled]),
        "embedding": ("embedding=pending", [i for i in images if embedded.get(i.pk) == "pending"]),
        "no_embedding": ("embedding=none", [i for i in images if i.pk not in embedded]),
        "search": ("search=A", [i for i in images if i.original_name.lower().startswith("a")]),
        "together": ("search=b&status=new",
                     [i for i in images
                      if i.original_name.lower().startswith("b") and i.status == "new"]),
    }[name]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["status", "assignee", "label", "embedding", "no_embedding", "search", "together"]
)
@pytest.mark.parametrize("ordering", ["id", "-name", "status", "-updated"])
def test_cursor_pages_apply_every_filter_under_every_sort(
    listed: dict, name: str, ordering: str
) -> None:
    query, matching = _matches(listed, name)
    assert matching, "the fixture must give each filter something to find"
    walked = _walk(listed["client"], f"{listed['url']}?{query}&ordering={ordering}", limit=3)
    assert walked == _expected(matching, ordering)


@pytest.mark.django_db
def test_a_cursor_page_is_stable_while_images_are_uploaded(listed: dict) -> None:
    client, url = listed["client"], listed["url"]
    first = client.get(url, {"cursor": "", "limit": 10}).json()
    # New uploads land at the end of upload order: page two neither repeats nor skips a row,
    # as an offset would when rows are inserted before it in the order.
    _rows_after = Image.objects.create(
        project=listed["project"], file="x/new.png", original_name="0-first-by-name.png",
        width=1, height=1, sha256="f" * 64,
    )  # fmt: skip
    second = client.get(first["next"]).json()
    ids = [r["id"] for r in first["results"]] + [r["id"] for r in second["results"]]
    assert ids == _expected(listed["images"], "id")[:20]
    by_name = client.get(url, {"cursor": "", "limit": 10, "ordering": "name"}).json()
    following = client.get(by_name["next"]).json()
    assert _rows_after.pk not in [r["id"] for r in following["results"]]


@pytest.mark.django_db
def test_previous_goes_back_to_the_same_page(listed: dict) -> None:
    client, url = listed["client"], listed["url"]
    first = client.get(url, {"cursor": "", "limit": 5, "ordering": "-name"}).json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None and back["next"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    ["%%%", "bm90IGpzb24", base64.urlsafe_b64encode(b'{"o":"id","k":["x"],"b":false}').decode(),
     base64.urlsafe_b64encode(b'{"o":"id","k":[99999999999999999999999],"b":false}').decode(),
     base64.urlsafe_b64encode(b'[1, 2]').decode(),
     base64.urlsafe_b64encode(b'{"o":"updated","k":["yesterday",1],"b":false}').decode()],
)  # fmt: skip
def test_a_damaged_cursor_is_a_400(listed: dict, cursor: str) -> None:
    ordering = "updated" if b"updated" in base64.urlsafe_b64decode(cursor + "===") else "id"
    response = listed["client"].get(listed["url"], {"cursor": cursor, "ordering": ordering})
    assert response.status_code == 400 and response.json()["detail"] == "Invalid cursor."


@pytest.mark.django_db
def test_a_cursor_from_another_ordering_is_a_400(listed: dict) -> None:
    page = listed["client"].get(listed["url"], {"cursor": "", "limit": 5}).json()
    cursor = page["next"].split("cursor=")[1].split("&")[0]
    response = listed["client"].get(listed["url"], {"cursor": cursor, "ordering": "name"})
    assert response.status_code == 400 and "another ordering" in response.json()["detail"]
    assert json.loads(base64.urlsafe_b64decode(cursor + "==="))["o"] == "id"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["ordering=size", "embedding=maybe", "label=x", "search=" + "a" * 300]
)
def test_unknown_filters_and_sorts_are_a_400(listed: dict, query: str) -> None:
    assert listed["client"].get(f"{listed['url']}?{query}").status_code == 400


@pytest.mark.django_db
def test_offset_pages_keep_their_exact_count_and_annotation_counts(listed: dict) -> None:
    page = listed["client"].get(listed["url"], {"limit": 5, "offset": 5}).json()
    assert page["count"] == len(listed["images"])
    assert [r["id"] for r in page["results"]] == _expected(listed["images"], "id")[5:10]
    counts = {r["id"]: r["annotation_count"] for r in page["results"]}
    labelled = set(Annotation.objects.values_list("image_id", flat=True))
    assert counts == {pk: int(pk in labelled) for pk in counts}


@pytest.mark.django_db
def test_the_schema_documents_the_cursor_and_the_filters(listed: dict) -> None:
    schema = listed["client"].get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/projects/{id}/images/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"cursor", "limit", "offset", "ordering", "label", "embedding", "search"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["id", "-status", "updated", "-name"])
def test_a_search_with_more_matches_than_the_probe_reads_the_sorts_index(
    listed: dict, ordering: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotator import selectors

    # The fixture's 31 names share few prefixes: a probe of 2 makes "a" a common prefix.
    monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", 2)
    query, matching = _matches(listed, "search")
    walked = _walk(listed["client"], f"{listed['url']}?{query}&ordering={ordering}", limit=4)
    assert walked == _expected(matching, ordering)
