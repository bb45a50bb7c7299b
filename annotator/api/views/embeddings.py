"""Embeddings, server-side prediction, and the exported decoder files of each model."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import precompressed, selectors, services
from annotator.api import serializers as s
from annotator.api.errors import RETRY_AFTER_UNAVAILABLE
from annotator.api.views.base import image_for
from annotator.api.views.stored import precompressed_response
from annotator.images import MAX_NAME_BYTES
from annotator.models import Embedding, Image, SamModel
from annotator.permissions import Can

RETRY_AFTER_SECONDS = 2
IMMUTABLE = "private, max-age=31536000, immutable"


def _pending(body: dict[str, Any]) -> Response:
    return Response(
        body, status=status.HTTP_202_ACCEPTED, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def _queue_unavailable(what: str) -> Response:
    detail = (
        f"The task queue (Celery broker) is unavailable, so {what} could not be enqueued. "
        "Nothing is lost: retry after Retry-After seconds and it is enqueued then."
    )
    body = {"status": "unavailable", "detail": detail}
    headers = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)}
    return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)


def _request(image: Image, *, force: bool = False) -> Response:
    """Create or reset the image's row, commit, then enqueue it: 202, or 503 when the broker
    cannot take the task (the row stays pending and unqueued, so a retry enqueues it)."""
    with transaction.atomic():
        rows = services.embedding_request(images=[image], force=force, enqueue=False)
    if not services.embedding_enqueue([row.pk for row in rows]):
        return _queue_unavailable("the embedding")
    return _pending({"status": "pending", "detail": "Embedding enqueued."})


def _embedding_state(image: Image) -> tuple[Embedding | None, Response | None]:
    """The ready embedding, or the answer to give instead (202 while pending, 409 if failed,
    503 when it needs enqueueing and the broker is down)."""
    row = selectors.embedding_for_image(image=image)
    if row is None:
        # Uploaded before its project's model was chosen, or the row was removed: request it.
        return None, _request(image)
    if row.status == Embedding.Status.FAILED:
        detail = f"Embedding failed after {row.attempts} attempt(s): {row.error}"
        body = {"status": row.status, "detail": detail, "error": row.error}
        return None, Response(body, status=status.HTTP_409_CONFLICT)
    # Pending with no task known to be queued (the broker was down when it was requested).
    unqueued = row.status == Embedding.Status.PENDING and row.queued_at is None
    if unqueued and not services.embedding_enqueue([row.pk]):
        return None, _queue_unavailable("the embedding")
    if row.status != Embedding.Status.READY:
        body = {"status": row.status, "detail": f"Embedding is {row.status}; retry shortly."}
        return None, _pending(body)
    return row, None


class ImageEmbeddingView(APIView):
    """GET: the embedding in export_onnx's wire format (application/octet-stream), with
    X-Embedding-Shape, X-Embedding-Dtype and X-Model-Sha256 headers and an ETag; 202 with
    Retry-After while it is computed; 409 with the reason when it failed; 503 with Retry-After
    when it must be enqueued and the task queue is down (it is enqueued on a later request).
    POST: compute it again (managers; also the way to retry a failed one)."""

    @extend_schema(
        responses={
            (200, "application/octet-stream"): bytes,
            202: OpenApiResponse(description="pending or running; see Retry-After"),
            409: OpenApiResponse(description="failed; detail says why"),
            503: OpenApiResponse(description="the task queue is down; see Retry-After"),
        }
    )
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        image, _ = image_for(request, pk, Can.READ)
        row, answer = _embedding_state(image)
        if answer is not None:
            return answer
        assert row is not None
        etag = f'"{row.sha256}"'
        headers = {
            "ETag": etag,
            "Cache-Control": IMMUTABLE,
            "X-Embedding-Shape": ",".join(str(n) for n in row.shape),
            "X-Embedding-Dtype": row.dtype,
            "X-Model-Sha256": row.sam_model.sha256,
            "Access-Control-Expose-Headers": "ETag, X-Embedding-Shape, X-Embedding-Dtype, X-Model-Sha256",
        }
        return precompressed_response(request, row.file, etag=etag, headers=headers)

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(description="enqueued"),
            503: OpenApiResponse(description="the task queue is down; see Retry-After"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.MANAGE)
        return _request(image, force=True)


# --- Server-side prediction ----------------------------------------------------------------------


class ImagePredictView(APIView):
    """Decode prompts against the stored embedding with the same ONNX graphs the browser runs,
    so a script (or a test) sees exactly the masks the page shows."""

    @extend_schema(
        request=s.PredictSerializer, responses={200: OpenApiResponse(description="masks")}
    )
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        data = s.PredictSerializer(data=request.data, context={"image": image})
        data.is_valid(raise_exception=True)
        row, answer = _embedding_state(image)
        if answer is not None:
            return answer
        assert row is not None
        sha = row.sam_model.sha256
        answer = _export_state(row.sam_model)
        if answer is not None:
            return answer
        with row.file.open("rb") as f:
            wire_bytes = f.read()
        v = data.validated_data
        decoder = services.sam_model_decoder(sha256=sha)
        points = v["point_coords"]
        try:
            prepared = decoder.prepare(wire_bytes)
        except ValueError as exc:  # WireFormatError, ExportMismatchError
            detail = f"The stored embedding does not fit the model's decoder ({exc}); recompute it."
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        try:
            masks, scores, _ = decoder.predict(
                point_coords=np.array(points, dtype=np.float64).reshape(-1, 2) if points else None,
                point_labels=np.array(v["point_labels"], dtype=np.int64) if points else None,
                box=np.array(v["box"], dtype=np.float64) if v.get("box") else None,
                multimask_output=v["multimask_output"],
                orig_size=(image.height, image.width),
                image=prepared,
            )
        except ValueError as exc:  # prompts the decoder cannot take, e.g. a degenerate box
            raise services.Invalid(f"Prompts cannot be decoded: {exc}") from None
        return Response(
            {
                "model_sha256": sha,
                "masks": [
                    _mask_body(mask, float(score), polygons=v["polygons"])
                    for mask, score in zip(masks, scores, strict=True)
                ],
            }
        )


def _mask_body(mask: np.ndarray, score: float, *, polygons: bool) -> dict[str, Any]:
    from annotator import geometry

    mask = np.asarray(mask).astype(bool)
    body: dict[str, Any] = {
        "score": score,
        "rle": geometry.mask_to_rle(mask),
        "bbox": [int(v) for v in geometry.mask_bbox(mask)],
        "area": int(geometry.mask_area(mask)),
    }
    if polygons:
        body["polygons"] = geometry.mask_to_polygons(mask)
    return body


# --- Exported decoder files ----------------------------------------------------------------------


def _export_state(sam_model: SamModel) -> Response | None:
    """None when the model's decoder export is published (in the media storage, which every
    host shares); else 202 (export enqueued) or 409."""
    if services.decoder_published(sha256=sam_model.sha256):
        return None
    if sam_model.onnx_status == SamModel.OnnxStatus.FAILED:
        body = {"status": "failed", "detail": f"ONNX export failed: {sam_model.onnx_error}"}
        return Response(body, status=status.HTTP_409_CONFLICT)
    if not services.sam_model_export_request(sam_model=sam_model):
        return _queue_unavailable("the decoder export")
    return _pending({"status": "exporting", "detail": "The decoder is being exported."})


def _model_for(request: Request, sha256: str) -> SamModel:
    """A model the caller may fetch: one that a project of theirs uses."""
    model = selectors.sam_model_visible_to(user=request.user, sha256=sha256)
    if model is None or len(sha256) != 64:
        raise Http404("Not found.")
    return model


class ModelManifestView(APIView):
    """The export's manifest.json (model type, checkpoint sha256, wire format, file hashes);
    202 while the worker is still exporting the decoder for this model."""

    @extend_schema(responses={(200, "application/json"): dict})
    def get(self, request: Request, sha256: str) -> HttpResponseBase:
        model = _model_for(request, sha256)
        answer = _export_state(model)
        if answer is not None:
            return answer
        manifest = services.decoder_manifest(sha256=sha256)
        if manifest is None:  # published a moment ago is checked above; removed since
            raise Http404("Not found.")
        response = Response(manifest)
        response["Cache-Control"] = "private, max-age=300"
        return response


class ModelFileView(APIView):
    """One file of the export (e.g. decode.onnx), by its name in the export folder."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, sha256: str, name: str) -> HttpResponseBase:
        _model_for(request, sha256)
        # Only plain names the manifest lists: no separators, no dot files, no traversal,
        # nothing longer than a file name can be (a storage's stat raises ENAMETOOLONG).
        if (
            "/" in name
            or "\\" in name
            or name.startswith(".")
            or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
        ):
            raise Http404("Not found.")
        opened = services.decoder_file_open_encoded(
            sha256=sha256, name=name, accept_gzip=precompressed.accepts_gzip(request)
        )
        if opened is None:
            raise Http404("Not found.")
        # Streamed from the media storage (S3 or disk) through this permission check, not a
        # presigned redirect: the page is cross-origin isolated, so a bucket URL would need
        # CORS and CORP headers from every S3 deployment. Named by the checkpoint hash and
        # written once, so immutable. Gzipped where the client takes it: the twin stored at
        # publication (services/decoder_files.py), never compressed per request.
        response = FileResponse(opened.handle, content_type=_content_type(name))
        response["Content-Length"] = str(opened.size)
        response["Cache-Control"] = IMMUTABLE
        response["Vary"] = "Accept-Encoding"
        if opened.encoding:
            response["Content-Encoding"] = opened.encoding
            response["X-Decoded-Length"] = str(opened.decoded_size)
        return response


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    return "application/octet-stream"
