"""A SAM 2.1 project end to end through a real Celery worker: upload -> embedding computed in
the SAM 2 feature wire format -> the decoder manifest (family "sam2") -> server-side predict,
checked against SAM2ImagePredictor; then everything mode and auto-annotation jobs on the same
model. The model is the SAM 2.1 parity pack's small Hiera (reference/sam2/), random weights.

Marked `integration`: the lead's `make test` runs these again on PostgreSQL + Redis.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from export_onnx import wire, wire2
from tests import factories
from tests.backend.test_pipeline import _upload, _wait

pytestmark = [pytest.mark.worker, pytest.mark.integration, pytest.mark.slow]

PACK_MODEL = "sam2.1_hiera_mini.pt"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.fixture
def sam2_pack(reference_dir: Path) -> Path:
    pack = reference_dir / "sam2"
    if not (pack / PACK_MODEL).is_file():
        pytest.skip(f"SAM 2.1 reference pack not found at {pack}")
    return pack


@pytest.fixture
def pipeline(celery_worker: Any, sam2_pack: Path, settings: Any) -> dict:
    from rest_framework.test import APIClient

    settings.MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(Path(settings.VAR_DIR) / "media"))
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=str(sam2_pack / PACK_MODEL))
    client = APIClient()
    client.force_authenticate(owner)
    return {"owner": owner, "project": project, "client": client}


@pytest.fixture(scope="module")
def predictor(reference_dir: Path) -> Any:
    from annotator.sam2 import SAM2ImagePredictor, build_sam2

    pack = reference_dir / "sam2"
    if not (pack / PACK_MODEL).is_file():
        pytest.skip("SAM 2.1 reference pack not found")
    return SAM2ImagePredictor(build_sam2(pack / PACK_MODEL))


@pytest.mark.django_db(transaction=True)
def test_a_sam2_upload_is_embedded_exported_and_predicted_by_the_worker(
    pipeline: dict, sam2_pack: Path, predictor: Any
) -> None:
    from annotator.geometry import rle_to_mask
    from annotator.models import Embedding

    client = pipeline["client"]
    image = _upload(pipeline, sam2_pack / "chelsea.png")
    response = _wait(client, image["embedding_url"])
    assert response.status_code == 200, getattr(response, "data", response)
    data = b"".join(response.streaming_content)
    sha = response["X-Model-Sha256"]
    assert response["X-Embedding-Dtype"] == "sam2_codebook"
    assert 2_000_000 < len(data) <= wire2.MAX_BYTES
    header = wire2.read_header(data, model_key=wire.model_key_from_sha256(sha))
    assert header.model_key == wire2.model_key_from_sha256(sha)
    assert header.original_size == (300, 451) and header.version == wire2.VERSION
    row = Embedding.objects.get(image_id=image["id"])
    assert row.status == "ready" and row.attempts == 1 and row.shape == [256, 64, 64]

    # The stored features are the float32 ones up to the codebook's rounding.
    rgb = np.asarray(PILImage.open(sam2_pack / "chelsea.png").convert("RGB"))
    predictor.set_image(rgb)
    assert predictor._features is not None
    stored = wire2.decode_features(data)
    exact = predictor._features["image_embed"].numpy()
    assert np.abs(stored["image_embed"] - exact).mean() < 0.05 * np.abs(exact).mean()

    # The manifest the page reads says SAM 2, and describes the feature wire format.
    project = client.get(f"/api/projects/{pipeline['project'].pk}/").json()
    assert project["sam_model"]["sha256"] == sha
    manifest = _wait(client, project["sam_model"]["manifest_url"])
    assert manifest.status_code == 200, manifest.content
    body = manifest.json()
    assert body["model"]["family"] == "sam2" and body["verification"]["status"] == "passed"
    assert body["features"]["wire"]["max_bytes"] == wire2.MAX_BYTES
    assert body["features"]["wire"]["version"] == wire2.VERSION
    assert body["features"]["wire"]["model_key"] == wire2.model_key_from_sha256(sha).hex()
    assert {"prepare", "decode"} <= set(body["graphs"])

    # Server-side predict runs the exported graphs over the stored features: the same masks
    # as the PyTorch predictor on those features, for points, a box and both.
    features_predictor = type(predictor)(predictor.model)
    features_predictor.set_image_features(stored, (300, 451))
    prompts = [
        {"point_coords": [[230, 150]], "point_labels": [1], "multimask_output": True},
        {"point_coords": [[230, 150], [120, 60]], "point_labels": [1, 0],
         "multimask_output": False},
        {"box": [150, 40, 330, 260], "multimask_output": False},
        {"point_coords": [[230, 150]], "point_labels": [1], "box": [150, 40, 330, 260],
         "multimask_output": True},
    ]  # fmt: skip
    url = f"/api/images/{image['id']}/predict"
    for prompt in prompts:
        response = _wait(client, url, method="post", body=prompt)
        assert response.status_code == 200, (prompt, response.content)
        assert response.json()["model_sha256"] == sha
        masks = response.json()["masks"]
        expected, scores, _ = predictor_predict(features_predictor, prompt)
        assert len(masks) == len(expected)
        for got, want, score in zip(masks, expected, scores, strict=True):
            assert _iou(rle_to_mask(got["rle"]).astype(bool), want) >= 0.99, prompt
            assert abs(got["score"] - float(score)) < 1e-3, prompt

    # A prompt the decoder cannot take is a 400 with a detail, not a 500.
    bad = client.post(url, {"point_coords": [[1, 2]], "point_labels": [5]}, format="json")
    assert bad.status_code == 400 and "detail" in bad.json()

    # An embedding stored in wire version 1 (before version 2) still predicts, the same masks as
    # its decoded features; a version this reader does not know is a 409 asking for a
    # recompute, not a 500.
    f = predictor._features
    exact = {"image_embed": f["image_embed"].numpy(), "high_res_feats_0": f["high_res_feats"][0]
             .numpy(), "high_res_feats_1": f["high_res_feats"][1].numpy()}  # fmt: skip
    old = wire2.encode_features_v1(exact, model_key=header.model_key, original_size=(300, 451))
    stored_file = Path(row.file.path)
    stored_file.write_bytes(old)
    features_predictor.set_image_features(wire2.decode_features(old), (300, 451))
    response = client.post(url, prompts[0], format="json")
    assert response.status_code == 200, response.content
    expected, _, _ = predictor_predict(features_predictor, prompts[0])
    for got, want in zip(response.json()["masks"], expected, strict=True):
        assert _iou(rle_to_mask(got["rle"]).astype(bool), want) >= 0.99
    stored_file.write_bytes(old[:4] + b"\x03" + old[5:])
    refused = client.post(url, prompts[0], format="json")
    assert refused.status_code == 409 and "recompute" in refused.json()["detail"]


def predictor_predict(predictor: Any, prompt: dict[str, Any]) -> Any:
    return predictor.predict(
        point_coords=np.array(prompt["point_coords"]) if "point_coords" in prompt else None,
        point_labels=np.array(prompt["point_labels"]) if "point_labels" in prompt else None,
        box=np.array(prompt["box"]) if "box" in prompt else None,
        multimask_output=prompt["multimask_output"],
    )


@pytest.mark.django_db
def test_everything_and_auto_annotate_jobs_run_on_a_sam2_project(
    sam2_pack: Path, predictor: Any, settings: Any, tmp_path: Path
) -> None:
    """The job runners only build and call the model through the segmenter: on SAM 2 they get
    SAM2AutomaticMaskGenerator and SAM2ImagePredictor. (What they write, annotations or
    proposals, is the runners' own business; this reads either.)"""
    from annotator import services
    from annotator.geometry import rle_to_mask
    from annotator.models import Job

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SAM_ONNX_DIR = str(tmp_path / "onnx")
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=str(sam2_pack / PACK_MODEL))
    cat = project.labels.order_by("id").first()
    image = factories.image(
        project, data=(sam2_pack / "chelsea.png").read_bytes(), name="chelsea.png"
    )
    job = services.job_run(
        job=services.job_create(
            project=project, kind="everything", created_by=owner,
            params={"label": cat.pk, "image_ids": [image.pk], "points_per_side": 4,
                    "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},
        )
    )  # fmt: skip
    assert job.status == Job.Status.DONE, job.error
    after_everything = _results(image)
    assert after_everything

    box = [150.0, 40.0, 330.0, 260.0]
    job = services.job_run(
        job=services.job_create(
            project=project, kind="auto_annotate", created_by=owner,
            params={"boxes": {str(image.pk): [box]}, "label": cat.pk},
        )
    )  # fmt: skip
    assert job.status == Job.Status.DONE, job.error
    new = [r for r in _results(image) if r not in after_everything]
    assert len(new) == 1
    rgb = np.asarray(PILImage.open(sam2_pack / "chelsea.png").convert("RGB"))
    predictor.set_image(rgb)
    want, _, _ = predictor.predict(box=np.array(box), multimask_output=False)
    assert _iou(rle_to_mask(new[0]).astype(bool), want[0]) >= 0.99


def _results(image: Any) -> list[Any]:
    """The RLEs of what the jobs made for the image, as annotations or as proposals."""
    from annotator import models

    found = [a.rle for a in image.annotations.order_by("id")]
    if hasattr(models, "Proposal"):
        found += [p.rle for p in models.Proposal.objects.filter(image=image).order_by("id")]
    return found
