"""The embedding endpoint's answers for each state of the row, and the model file routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile

from annotator.models import Embedding
from annotator.services import embedding_compute
from export_onnx import wire
from tests import factories

SHA = "ab" * 32


@pytest.fixture
def setup(project_with_roles: dict, client_for: Any) -> dict[str, Any]:
    image = factories.image(project_with_roles["project"])
    row = Embedding.objects.get(image=image)
    return {
        **project_with_roles,
        "image": image,
        "row": row,
        "client": client_for(project_with_roles["viewer"]),
    }


def _make_ready(row: Embedding) -> bytes:
    model = row.sam_model
    model.sha256 = SHA
    model.save()
    data = wire.encode_embedding(
        np.random.default_rng(0).normal(size=(1, 256, 64, 64)).astype(np.float32),
        model_key=wire.model_key_from_sha256(SHA),
        original_size=(row.image.height, row.image.width),
    )
    row.file.save("x.same", ContentFile(data), save=False)
    row.status, row.dtype, row.shape, row.sha256 = "ready", "uint8_affine", [256, 64, 64], "cd" * 32
    row.save()
    return data


@pytest.mark.django_db
def test_a_pending_embedding_answers_202_with_retry_after(setup: dict) -> None:
    response = setup["client"].get(f"/api/images/{setup['image'].pk}/embedding")
    assert response.status_code == 202
    assert response["Retry-After"] == "2" and response.json()["status"] == "pending"


@pytest.mark.django_db
def test_a_failed_embedding_answers_409_with_its_reason(setup: dict) -> None:
    Embedding.objects.filter(pk=setup["row"].pk).update(
        status="failed", error="checkpoint missing", attempts=3
    )
    response = setup["client"].get(f"/api/images/{setup['image'].pk}/embedding")
    assert response.status_code == 409
    assert (
        "checkpoint missing" in response.json()["detail"] and response.json()["status"] == "failed"
    )


@pytest.mark.django_db
def test_a_ready_embedding_is_served_as_wire_bytes_with_headers(setup: dict) -> None:
    data = _make_ready(setup["row"])
    response = setup["client"].get(f"/api/images/{setup['image'].pk}/embedding")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Length"] == str(len(data))  # the page shows download progress
    assert response["X-Embedding-Shape"] == "256,64,64"
    assert response["X-Embedding-Dtype"] == "uint8_affine"
    assert response["X-Model-Sha256"] == SHA
    assert response["ETag"] == f'"{"cd" * 32}"'
    assert "max-age=31536000" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_cached_embedding_is_answered_304(setup: dict) -> None:
    _make_ready(setup["row"])
    response = setup["client"].get(
        f"/api/images/{setup['image'].pk}/embedding", HTTP_IF_NONE_MATCH=f'"{"cd" * 32}"'
    )
    assert response.status_code == 304


@pytest.mark.django_db
def test_a_manager_can_request_a_recompute(
    setup: dict, client_for: Any, no_broker: list, django_capture_on_commit_callbacks: Any
) -> None:
    _make_ready(setup["row"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(setup["manager"]).post(f"/api/images/{setup['image'].pk}/embedding")
    assert response.status_code == 202
    setup["row"].refresh_from_db()
    assert setup["row"].status == "pending"
    assert no_broker[-1] == ("embedding_compute_task", ([setup["row"].pk],))


@pytest.mark.django_db
def test_computing_a_ready_embedding_again_does_nothing(setup: dict) -> None:
    _make_ready(setup["row"])
    outcome = embedding_compute(embedding_ids=[setup["row"].pk])
    assert outcome["skipped"] == [setup["row"].pk] and outcome["ready"] == []


@pytest.mark.django_db
def test_a_missing_checkpoint_fails_the_row_at_once_with_the_reason(
    project_with_roles: dict,
) -> None:
    project = factories.project(
        owner=project_with_roles["owner"], sam_checkpoint="/nowhere/model.pth"
    )
    image = factories.image(project)
    row = Embedding.objects.get(image=image)
    outcome = embedding_compute(embedding_ids=[row.pk])
    row.refresh_from_db()
    assert outcome["failed"] == [row.pk] and row.status == "failed"
    assert "does not exist" in row.error and row.attempts == 1


@pytest.mark.django_db
def test_the_model_manifest_is_404_to_users_whose_projects_use_other_models(
    setup: dict, client_for: Any
) -> None:
    _make_ready(setup["row"])
    stranger = factories.user()
    factories.project(owner=stranger, sam_checkpoint="sam_vit_h")
    outsider = client_for(stranger)
    assert outsider.get(f"/api/models/{SHA}/manifest.json").status_code == 404


@pytest.mark.django_db
def test_the_model_manifest_is_202_until_exported_then_served(
    setup: dict, settings: Any, tmp_path: Path, no_broker: list
) -> None:
    _make_ready(setup["row"])
    settings.SAM_ONNX_DIR = tmp_path
    response = setup["client"].get(f"/api/models/{SHA}/manifest.json")
    assert response.status_code == 202 and no_broker[-1][0] == "embedding_model_export_task"
    (tmp_path / SHA).mkdir()
    (tmp_path / SHA / "manifest.json").write_text(json.dumps({"model_type": "vit_b"}))
    (tmp_path / SHA / "decode.onnx").write_bytes(b"onnx")
    assert setup["client"].get(f"/api/models/{SHA}/manifest.json").json() == {"model_type": "vit_b"}
    response = setup["client"].get(f"/api/models/{SHA}/files/decode.onnx")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"onnx"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["..", ".hidden", "missing.onnx", "..%2Fmanifest.json"])
def test_model_files_outside_the_export_are_404(
    setup: dict, settings: Any, tmp_path: Path, name: str
) -> None:
    _make_ready(setup["row"])
    settings.SAM_ONNX_DIR = tmp_path / "onnx"
    (tmp_path / "onnx" / SHA).mkdir(parents=True)
    (tmp_path / "onnx" / ".hidden").write_text("x")
    assert setup["client"].get(f"/api/models/{SHA}/files/{name}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"point_coords": [["nan", 1]], "point_labels": [1]},
        {"point_coords": [["inf", 1]], "point_labels": [1]},
        {"point_coords": [[1, 1]], "point_labels": [1], "box": [0, 0, "-inf", 4]},
        {"point_coords": [[1, 1]], "point_labels": []},
        {"point_coords": [[1, 1, 1]], "point_labels": [1]},
        {"point_coords": [[1, 1]], "point_labels": [7]},
        {},
    ],
    ids=["nan", "inf", "inf box", "label count", "3d point", "bad label", "no prompt"],
)
def test_bad_prompts_are_a_400(setup: dict, client_for: Any, body: dict) -> None:
    _make_ready(setup["row"])
    client = client_for(setup["annotator"])
    response = client.post(f"/api/images/{setup['image'].pk}/predict", body, format="json")
    assert response.status_code == 400, response.content


@pytest.mark.django_db
def test_a_json_nan_literal_is_a_400(setup: dict, client_for: Any) -> None:
    client = client_for(setup["annotator"])
    response = client.post(
        f"/api/images/{setup['image'].pk}/predict",
        '{"point_coords": [[NaN, 1]], "point_labels": [1]}',
        content_type="application/json",
    )
    assert response.status_code == 400
