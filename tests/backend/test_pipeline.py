"""The whole pipeline through a real Celery worker: upload -> embedding computed on the `gpu`
queue -> binary download -> server-side prediction, checked against SamPredictor on the same
image with the reference pack's checkpoint.

Marked `integration`: the lead's `make test` runs these again on PostgreSQL + Redis.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from export_onnx import wire
from tests import factories

pytestmark = [pytest.mark.worker, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def pipeline(celery_worker: Any, reference_dir: Path, settings: Any) -> dict:
    # The worker writes media under its MEDIA_ROOT (the session's); read them from there too.
    settings.MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(Path(settings.VAR_DIR) / "media"))
    owner = factories.user()
    project = factories.project(
        owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth")
    )
    client = APIClient()
    client.force_authenticate(owner)
    return {"owner": owner, "project": project, "client": client}


def _upload(ctx: dict, path: Path) -> dict:
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    response = ctx["client"].post(
        f"/api/projects/{ctx['project'].pk}/images/", {"files": [upload]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()[0]


def _wait(
    client: APIClient, url: str, *, method: str = "get", body: Any = None, timeout: float = 180
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = getattr(client, method)(url, body, format="json") if body else client.get(url)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_embedded_by_the_worker_and_served_in_the_wire_format(
    pipeline: dict, reference_dir: Path
) -> None:
    image = _upload(pipeline, reference_dir / "chelsea.png")
    response = _wait(pipeline["client"], image["embedding_url"])
    assert response.status_code == 200, getattr(response, "data", response)
    data = b"".join(response.streaming_content)
    embedding, header = wire.decode_embedding(data)
    sha = response["X-Model-Sha256"]
    assert header.shape == (256, 64, 64) and header.original_size == (300, 451)
    assert header.model_key == wire.model_key_from_sha256(sha)
    golden = np.load(reference_dir / "sam_vit_small_goldens.npz")["chelsea/embedding"]
    step = wire.wire_arrays(data)["embedding_scale"][None, :, None, None]
    # uint8 codes: within half a step of each channel's own range of the reference embedding.
    assert np.all(np.abs(embedding - golden) <= step / 2 + 2e-3)

    from annotator.models import Embedding

    row = Embedding.objects.get(image_id=image["id"])
    assert row.status == "ready" and row.compute_seconds > 0 and row.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_server_prediction_matches_sam_predictor_on_the_same_image(
    pipeline: dict, reference_dir: Path, reference_manifest: dict
) -> None:
    image = _upload(pipeline, reference_dir / "chelsea.png")
    assert _wait(pipeline["client"], image["embedding_url"]).status_code == 200
    cases = reference_manifest["models"]["sam_vit_small"]["images"]["chelsea"]["cases"]
    case = next(c for c in cases if c["name"] == "point_multimask")
    body = {
        "point_coords": case["point_coords"],
        "point_labels": case["point_labels"],
        "multimask_output": True,
    }
    response = _wait(
        pipeline["client"], f"/api/images/{image['id']}/predict", method="post", body=body
    )
    assert response.status_code == 200, response.content
    sha = response.json()["model_sha256"]

    # The decoder files the page needs come from the same API, matched to the project's model.
    project = pipeline["client"].get(f"/api/projects/{pipeline['project'].pk}/").json()
    assert project["sam_model"]["sha256"] == sha
    manifest = pipeline["client"].get(project["sam_model"]["manifest_url"])
    assert manifest.status_code == 200, manifest.content
    decode = manifest.json()["graphs"]["decode"]
    graph = pipeline["client"].get(f"/api/models/{sha}/files/{decode['file']}")
    assert graph.status_code == 200
    assert hashlib.sha256(b"".join(graph.streaming_content)).hexdigest() == decode["sha256"]

    from PIL import Image as PILImage

    from annotator.geometry import rle_to_mask
    from annotator.sam import SamPredictor, build_sam

    predictor = SamPredictor(build_sam(reference_dir / "sam_vit_small.pth", device="cpu"))
    predictor.set_image(np.asarray(PILImage.open(reference_dir / "chelsea.png").convert("RGB")))
    # Every prompt kind of the reference pack: points, negative points, a box, box + points.
    for case in [c for c in cases if "use_mask_input_from" not in c]:
        body = {
            "point_coords": case.get("point_coords", []),
            "point_labels": case.get("point_labels", []),
            "box": case.get("box"),
            "multimask_output": case["multimask_output"],
        }
        response = pipeline["client"].post(
            f"/api/images/{image['id']}/predict", body, format="json"
        )
        assert response.status_code == 200, (case["name"], response.content)
        masks = response.json()["masks"]
        expected, scores, _ = predictor.predict(
            point_coords=np.array(case["point_coords"]) if "point_coords" in case else None,
            point_labels=np.array(case["point_labels"]) if "point_labels" in case else None,
            box=np.array(case["box"]) if "box" in case else None,
            multimask_output=case["multimask_output"],
        )
        assert len(masks) == len(expected), case["name"]
        for got, want, score in zip(masks, expected, scores, strict=True):
            mask = rle_to_mask(got["rle"]).astype(bool)
            iou = (mask & want).sum() / max(1, (mask | want).sum())
            assert iou >= 0.99, (case["name"], iou)
            # The embedding went through the uint8 wire format; predicted IoUs barely move.
            assert abs(got["score"] - float(score)) < 0.02, case["name"]
            assert got["polygons"] or not want.any()


@pytest.mark.django_db(transaction=True)
def test_a_worker_records_a_failure_with_its_reason_and_stops_retrying(
    pipeline: dict, reference_dir: Path, settings: Any
) -> None:
    from annotator.models import Embedding

    image = _upload(pipeline, reference_dir / "rocket.png")
    row = Embedding.objects.get(image_id=image["id"])
    # Wait for the first computation, then break the stored image and ask again.
    assert _wait(pipeline["client"], image["embedding_url"]).status_code == 200
    row.refresh_from_db()
    row.image.file.storage.delete(row.image.file.name)
    manager = pipeline["client"]
    assert manager.post(image["embedding_url"]).status_code == 202
    response = _wait(manager, image["embedding_url"], timeout=120)
    assert response.status_code == 409, getattr(response, "data", response)
    row.refresh_from_db()
    assert row.status == "failed" and "image unreadable" in row.error
    assert row.attempts == settings.EMBEDDING_MAX_ATTEMPTS
