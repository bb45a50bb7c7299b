"""Two users at once (issue 8, "hold up under abuse").

Saves race over real HTTP: pytest-django's live server answers each request on its own thread
with its own database connection, and two users (two tokens) fire at the same moment. Of two
writes made from the same version exactly one wins; the other gets 409 with the current version
(what the page needs to reload) or, if the annotation is gone, 404; nothing is lost. Edit locks
refuse the other user (423) until they expire. Bulk writes and imports that fail half-way store
nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connection
from rest_framework.authtoken.models import Token

from annotator import services
from annotator.models import Annotation, Image, Label
from bench.load import Http
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 5  # each round is a fresh race; the winner may differ from round to round


@pytest.fixture
def two(project_with_roles: dict[str, Any], live_server: Any) -> dict[str, Any]:
    """Two annotators of one project, each with an API client on the live server."""
    project = project_with_roles["project"]
    image = factories.image(project, data=factories.png_bytes(64, 48), name="scene.png")
    alice = project_with_roles["annotator"]
    bob = factories.member(project, "annotator", username="bob")
    return {
        "project": project,
        "image": image,
        "label": project.labels.first(),
        "alice": alice,
        "bob": bob,
        "A": Http(live_server.url, Token.objects.create(user=alice).key),
        "B": Http(live_server.url, Token.objects.create(user=bob).key),
    }


def race(*calls: tuple[Http, str, str, Any]) -> list[tuple[int, Any]]:
    """Send the (client, method, path, body) requests from their own threads, released together;
    (status, JSON body) of each."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[int, Any]] = [(0, None)] * len(calls)

    def go(i: int, http: Http, method: str, path: str, body: Any) -> None:
        barrier.wait()
        status, data, _ = http.call(method, path, body)
        results[i] = (status, json.loads(data) if data else None)

    threads = [threading.Thread(target=go, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _create(s: dict[str, Any], user: str = "A") -> dict[str, Any]:
    status, body, _ = s[user].call(
        "POST",
        f"/api/images/{s['image'].pk}/annotations/",
        {"label": s["label"].pk, "polygons": factories.square(2, 2, 10)},
    )
    assert status == 201, body
    return dict(json.loads(body))


def test_two_users_saving_one_annotation_one_wins_the_other_gets_409_and_loses_nothing(
    two: dict[str, Any],
) -> None:
    for _ in range(ROUNDS):
        created = _create(two)
        url = f"/api/annotations/{created['id']}/"
        edits = {"A": factories.square(0, 0, 5), "B": factories.square(20, 20, 6)}
        results = race(
            (two["A"], "PATCH", url, {"version": 1, "polygons": edits["A"]}),
            (two["B"], "PATCH", url, {"version": 1, "polygons": edits["B"]}),
        )
        statuses = [status for status, _ in results]
        assert sorted(statuses) == [200, 409], results
        winner, loser = ("A", "B") if statuses[0] == 200 else ("B", "A")
        conflict = results[["A", "B"].index(loser)][1]
        # The page reloads from this: the version the server holds now, and why.
        assert conflict["current_version"] == 2 and "reload" in conflict["detail"], conflict
        stored = Annotation.objects.get(pk=created["id"])
        assert stored.version == 2 and stored.polygons == edits[winner]

        # The loser reloads and applies their edit on top: both edits were made, in order.
        status, body, _ = two[loser].call("GET", url)
        assert status == 200 and json.loads(body)["version"] == conflict["current_version"]
        status, body, _ = two[loser].call(
            "PATCH", url, {"version": conflict["current_version"], "polygons": edits[loser]}
        )
        assert status == 200 and json.loads(body)["version"] == 3, body
        stored.refresh_from_db()
        assert stored.polygons == edits[loser]
    assert Annotation.objects.count() == ROUNDS


def test_a_delete_racing_an_update_lets_exactly_one_through(two: dict[str, Any]) -> None:
    outcomes = set()
    for _ in range(ROUNDS):
        created = _create(two)
        url = f"/api/annotations/{created['id']}/"
        (patched, patch_body), (deleted, delete_body) = race(
            (two["A"], "PATCH", url, {"version": 1, "score": 0.5}),
            (two["B"], "DELETE", url + "?version=1", None),
        )
        row = Annotation.objects.filter(pk=created["id"]).first()
        if patched == 200:
            # The update came first: the delete named a version that is no longer there.
            assert deleted == 409 and delete_body["current_version"] == 2, delete_body
            assert row is not None and row.version == 2 and row.score == 0.5
        else:
            # The delete came first: the update finds nothing to change, and says so.
            assert (deleted, patched) == (204, 404), (deleted, patched, patch_body)
            assert row is None
        outcomes.add(patched)
    assert outcomes <= {200, 404}


def test_an_update_that_the_delete_beat_is_a_404_not_a_409_with_no_version(
    two: dict[str, Any],
) -> None:
    """The request loaded the annotation before the delete committed: the conditional UPDATE
    then matches no row, and the answer must say it is gone rather than name version None."""
    annotation = Annotation.objects.get(pk=_create(two)["id"])
    Annotation.objects.filter(pk=annotation.pk).delete()
    with pytest.raises(services.NotFound):
        services.annotation_update(
            annotation=annotation, version=1, updated_by=two["alice"], score=0.1
        )
    with pytest.raises(services.NotFound):
        services.annotation_delete(annotation=annotation, deleted_by=two["alice"], version=1)


def test_a_lock_refuses_the_other_user_until_it_expires(two: dict[str, Any], settings: Any) -> None:
    settings.IMAGE_LOCK_SECONDS = 1  # instead of ten minutes; the live server reads it per call
    created = _create(two)
    lock = f"/api/images/{two['image'].pk}/lock"
    url = f"/api/annotations/{created['id']}/"
    status, body, _ = two["A"].call("POST", lock)
    assert status == 200 and json.loads(body)["locked_by"] == two["alice"].pk
    taken_at = time.monotonic()

    assert two["B"].call("POST", lock)[0] == 423
    assert two["B"].call("PATCH", url, {"version": 1, "score": 0.3})[0] == 423
    assert two["B"].call("DELETE", url + "?version=1")[0] == 423
    new = {"label": two["label"].pk, "polygons": factories.square(30, 30, 5)}
    assert two["B"].call("POST", f"/api/images/{two['image'].pk}/annotations/", new)[0] == 423
    assert Annotation.objects.get(pk=created["id"]).version == 1
    assert Annotation.objects.count() == 1

    time.sleep(max(0.0, taken_at + 1.2 - time.monotonic()))
    status, body, _ = two["B"].call("POST", lock)
    assert status == 200 and json.loads(body)["locked_by"] == two["bob"].pk
    # Now Alice is the other user: her lock is gone and her writes wait for Bob.
    assert two["A"].call("POST", lock)[0] == 423
    assert two["A"].call("PATCH", url, {"version": 1, "score": 0.3})[0] == 423
    assert two["B"].call("PATCH", url, {"version": 1, "score": 0.4})[0] == 200


def test_a_lock_taken_after_the_request_read_the_image_still_stops_the_write(
    two: dict[str, Any],
) -> None:
    """A request loads the annotation (and its image, unlocked), then someone else locks the
    image before the write: the write must see the lock, not the stale copy it read."""
    annotation = Annotation.objects.select_related("image").get(pk=_create(two)["id"])
    assert annotation.image.locked_by_id is None
    services.image_lock(image=Image.objects.get(pk=two["image"].pk), user=two["bob"])
    with pytest.raises(services.Locked):
        services.annotation_update(
            annotation=annotation, version=1, updated_by=two["alice"], score=0.9
        )
    with pytest.raises(services.Locked):
        services.annotation_delete(annotation=annotation, deleted_by=two["alice"], version=1)
    with pytest.raises(services.Locked):
        services.annotation_create(
            image=annotation.image,
            label=two["label"],
            created_by=two["alice"],
            polygons=factories.square(20, 20, 5),
        )
    stored = Annotation.objects.get(pk=annotation.pk)
    assert stored.version == 1 and stored.score is None
    assert Annotation.objects.count() == 1


# --- All or nothing --------------------------------------------------------------------------------


@contextmanager
def failing_insert(table: str, nth: int) -> Iterator[list[int]]:
    """The nth INSERT into `table` on this thread's connection fails as a full disk would
    (nth=0: none fails); yields the count of those INSERTs so far."""
    seen = [0]

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(f'INSERT INTO "{table.upper()}"'):
            seen[0] += 1
            if seen[0] == nth:
                raise OperationalError("injected: database or disk is full")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def _counts() -> tuple[int, int]:
    return Annotation.objects.count(), Label.objects.count()


def _bulk_body(s: dict[str, Any], bad_at: int | None, keep: Annotation) -> dict[str, Any]:
    items = [
        {"label": s["label"].pk, "polygons": factories.square(i % 40, i % 30, 4)} for i in range(60)
    ]
    if bad_at is not None:
        items[bad_at]["polygons"] = [{"outer": [[0, 0], [1, 1]], "holes": []}]
    return {"image": s["image"].pk, "create": items, "delete": [keep.pk]}


def test_a_bulk_request_whose_50th_item_is_invalid_stores_nothing(
    two: dict[str, Any], client_for: Any
) -> None:
    keep = factories.annotation(two["image"])
    before = _counts()
    with failing_insert("annotator_annotation", 0) as seen:  # counts, never fails
        response = client_for(two["alice"]).post(
            "/api/annotations/bulk", _bulk_body(two, 49, keep), format="json"
        )
    assert response.status_code == 400 and "create[49]" in response.json()["detail"]
    assert seen[0] == 49  # refused half-way, after 49 rows were written
    assert _counts() == before and Annotation.objects.filter(pk=keep.pk).exists()


def test_a_bulk_request_hit_by_a_database_error_on_the_50th_insert_stores_nothing(
    two: dict[str, Any],
) -> None:
    keep = factories.annotation(two["image"])
    before = _counts()
    body = _bulk_body(two, None, keep)
    with failing_insert("annotator_annotation", 50) as seen, pytest.raises(OperationalError):
        services.annotation_bulk(
            image=two["image"], user=two["alice"], create=body["create"], delete=body["delete"]
        )
    assert seen[0] == 50  # 49 rows were written before the failure, and are gone again
    assert _counts() == before and Annotation.objects.filter(pk=keep.pk).exists()


def _coco(bad_at: int | None = None) -> bytes:
    """60 annotations on scene.png (64x48), under a label the project lacks (so the import would
    create it) and one it has. Item `bad_at` is a sliver inside the image that the reader
    accepts but that covers no pixel, so the import refuses it only when it comes to store it."""
    annotations = []
    for i in range(60):
        x, y = i % 40, i % 30
        polygon: list[float] = [x, y, x + 6, y, x + 6, y + 6, x, y + 6]
        if i == bad_at:
            polygon = [10, 10, 10.2, 10, 10, 10.2]
        annotations.append(
            {"id": i + 1, "image_id": 1, "category_id": 1 + i % 2, "segmentation": [polygon],
             "bbox": [x, y, 6, 6], "area": 36, "iscrowd": 0}
        )  # fmt: skip
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": "scene.png", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "brand new label"}],
            "annotations": annotations,
        }
    ).encode()


def _import(client: Any, project: Any, data: bytes) -> Any:
    upload = factories.upload(data, "annotations.json")
    return client.post(
        f"/api/projects/{project.pk}/imports/",
        {"file": upload, "format": "coco"},
        format="multipart",
    )


def test_a_coco_import_whose_50th_annotation_is_invalid_stores_nothing(
    two: dict[str, Any], client_for: Any
) -> None:
    owner = client_for(two["project"].memberships.get(role="owner").user)
    before = _counts()
    with failing_insert("annotator_annotation", 0) as seen:  # counts, never fails
        response = _import(owner, two["project"], _coco(bad_at=49))
    assert response.status_code == 400 and "covers no pixel" in response.json()["detail"]
    assert seen[0] == 49  # refused half-way, after 49 rows were written
    assert _counts() == before
    assert not two["project"].labels.filter(name="brand new label").exists()
    # The same file without the bad item goes in whole: the refusal was about that item.
    response = _import(owner, two["project"], _coco())
    assert response.status_code == 201, response.json()
    assert response.json()["annotations"] == 60


def test_a_coco_import_hit_by_a_database_error_on_the_50th_insert_stores_nothing(
    two: dict[str, Any], client_for: Any
) -> None:
    owner = client_for(two["project"].memberships.get(role="owner").user)
    owner.raise_request_exception = False  # see the answer the user would get
    before = _counts()
    with failing_insert("annotator_annotation", 50) as seen:
        response = _import(owner, two["project"], _coco())
    assert seen[0] == 50 and response.status_code == 500
    assert _counts() == before
    assert not two["project"].labels.filter(name="brand new label").exists()


def test_a_bulk_delete_with_read_versions_spares_what_someone_changed_since(
    two: dict[str, Any],
) -> None:
    """Alice read two annotations and deletes both in bulk; Bob edited one in between: nothing is
    deleted, Alice gets 409 with the current version, and with it her retry goes through."""
    first = factories.annotation(two["image"])
    second = factories.annotation(two["image"])
    status, edited, _ = two["B"].call(
        "PATCH", f"/api/annotations/{second.pk}/", {"version": 1, "score": 0.5}
    )
    assert status == 200 and json.loads(edited)["version"] == 2
    body = {"image": two["image"].pk, "delete": [first.pk, second.pk], "versions": [1, 1]}
    status, refused, _ = two["A"].call("POST", "/api/annotations/bulk", body)
    assert status == 409, refused
    assert json.loads(refused)["current_versions"] == {str(second.pk): 2}
    assert Annotation.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
    status, _, _ = two["A"].call("POST", "/api/annotations/bulk", {**body, "versions": [1, 2]})
    assert status == 200 and not Annotation.objects.filter(pk__in=[first.pk, second.pk]).exists()
    # One version per id, or the request is malformed.
    status, malformed, _ = two["A"].call("POST", "/api/annotations/bulk", {**body, "versions": [1]})
    assert status == 400 and "one version per id" in json.loads(malformed)["detail"]


def test_a_bulk_delete_of_thousands_with_read_versions_goes_through(two: dict[str, Any]) -> None:
    """Far more ids than SQLite takes terms in one expression (1000), within the request's
    bound (10,000): deleted, all of them, not a database error."""
    label, image = two["label"], two["image"]
    template = factories.annotation(image)
    Annotation.objects.bulk_create(
        Annotation(image=image, label=label, polygons=template.polygons, rle=template.rle,
                   bbox=template.bbox, area=template.area)
        for _ in range(2999)
    )  # fmt: skip
    rows = list(Annotation.objects.filter(image=image).values_list("pk", "version"))
    body = {"image": image.pk, "delete": [pk for pk, _ in rows], "versions": [v for _, v in rows]}
    status, answer, _ = two["A"].call("POST", "/api/annotations/bulk", body)
    assert status == 200, answer[:300]
    assert not Annotation.objects.filter(image=image).exists()
