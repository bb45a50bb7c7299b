"""SAM models: the row per checkpoint, the model loaded once per worker process, and the ONNX
decoder export that the browser and the predict endpoint run.

torch (through annotator.sam) and the exporter are imported inside the functions that need them:
only workers on the `gpu` queue and CLIs load a model, and the web process must never import
torch (tests/webapp/test_web_process.py).
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator import queue
from annotator.models import SamModel
from annotator.services import decoder_files
from annotator.services.errors import Unavailable
from annotator.storage import STORAGE_ERRORS


class PermanentError(Exception):
    """Retrying cannot help (missing or wrong checkpoint): the row fails at once."""


class ModelUnavailable(PermanentError):
    """The checkpoint is not there (yet): the row fails at once, and the workers' sweep retries
    it once the file is put in place (sam_model_available)."""


def sam_model_get_or_create(*, checkpoint: str | None = None) -> SamModel:
    checkpoint = checkpoint or settings.SAM_CHECKPOINT
    model, _ = SamModel.objects.get_or_create(
        checkpoint=checkpoint, defaults={"model_type": settings.SAM_MODEL_TYPE}
    )
    return model


@functools.lru_cache(maxsize=2)
def loaded_model(checkpoint: str, model_type: str) -> tuple[Any, Path, str]:
    """The model's `annotator.segmenters.Segmenter` (SAM 1 or SAM 2, told by the state dict),
    its checkpoint file and sha256, loaded once per worker process."""
    os.environ.setdefault("SAM_CACHE_DIR", str(settings.SAM_CACHE_DIR))
    from annotator.sam import CheckpointError, CheckpointUnavailable, checkpoint_sha256
    from annotator.segmenters import load_segmenter

    try:
        loaded = load_segmenter(
            checkpoint,
            model_type=model_type,
            device=settings.SAM_DEVICE or None,
            download=settings.SAM_ALLOW_DOWNLOAD,
        )
    except CheckpointUnavailable as exc:
        raise ModelUnavailable(str(exc)) from exc
    except CheckpointError as exc:
        raise PermanentError(str(exc)) from exc
    return loaded.segmenter, loaded.path, checkpoint_sha256(loaded.path)


def sam_model_available(*, sam_model: SamModel) -> bool:
    """Whether the model's checkpoint file is on this worker's disk now, without loading it.
    Workers only (imports annotator.sam). A download is not tried here: offline, every sweep
    would fail the rows again, and the first load downloads anyway where that is allowed."""
    os.environ.setdefault("SAM_CACHE_DIR", str(settings.SAM_CACHE_DIR))
    from annotator.sam import CheckpointUnavailable
    from annotator.segmenters import resolve_any

    try:
        resolve_any(sam_model.checkpoint, download=False)
    except CheckpointUnavailable:
        return False
    return True


def sam_model_load(*, sam_model: SamModel) -> tuple[Any, Path]:
    """The model's segmenter (`annotator.segmenters`: the same calls for SAM 1 and SAM 2) and
    its checkpoint file."""
    segmenter, path, sha = loaded_model(sam_model.checkpoint, sam_model.model_type)
    if sam_model.sha256 != sha:
        SamModel.objects.filter(pk=sam_model.pk).update(sha256=sha)
        sam_model.sha256 = sha
    return segmenter, path


def onnx_dir(sha256: str) -> Path:
    """The local cache folder of a model's export (never read across hosts: see
    services/decoder_files.py, which publishes it to and fetches it from the media storage)."""
    return decoder_files.decoder_cache_dir(sha256=sha256)


def sam_model_export(*, sam_model: SamModel) -> Path:
    """Export the decoder graphs for the model and publish them to the media storage, unless
    published already; returns the local folder the export was built in (a cache).

    The export is built in a private folder renamed into place in SAM_ONNX_DIR, then copied
    into the media storage, manifest last, so a web process on any host never serves a
    half-written export and two workers exporting at once both end well.
    """
    _, path = sam_model_load(sam_model=sam_model)
    target = onnx_dir(sam_model.sha256)
    try:
        if not decoder_files.decoder_published(sha256=sam_model.sha256):
            if not (target / "manifest.json").is_file():
                _export_into(target, path, sam_model)
            published = decoder_files.decoder_publish(sha256=sam_model.sha256, folder=target)
            # The gzip twins, later and at low priority (services/decoder_files.py).
            if published and settings.SAM_ATLAS_QUEUE:
                queue.send(queue.DECODER_GZIP, [sam_model.sha256], queue=settings.SAM_ATLAS_QUEUE)
    except Exception as exc:
        SamModel.objects.filter(pk=sam_model.pk).update(
            onnx_status=SamModel.OnnxStatus.FAILED, onnx_error=f"{type(exc).__name__}: {exc}"
        )
        raise
    SamModel.objects.filter(pk=sam_model.pk).update(
        onnx_status=SamModel.OnnxStatus.READY, onnx_error=""
    )
    return target


def _export_into(target: Path, checkpoint: Path, sam_model: SamModel) -> None:
    # torch again (the exporter traces the model): workers only.
    from export_onnx.export import run_export

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        run_export(
            checkpoint,
            tmp,
            model_type=sam_model.model_type,
            num_prompts=settings.SAM_ONNX_VERIFY_PROMPTS,
        )
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sam_model_export_request(*, sam_model: SamModel) -> bool:
    """Enqueue the decoder export on a worker; False when the broker is down. Idempotent: the
    worker returns at once when another task has exported it meanwhile."""
    return queue.send(queue.MODEL_EXPORT, [sam_model.pk])


@functools.lru_cache(maxsize=4)
def sam_model_decoder(*, sha256: str) -> Any:
    """The ONNX decoder of a model, loaded once per web process (onnxruntime, no torch; the
    instance is thread-safe)."""
    # onnxruntime is heavy and only the predict endpoint needs it.
    from export_onnx.runtime import OnnxDecoder, load_manifest
    from export_onnx.sam2_runtime import Sam2WireDecoder

    # The worker that exported it may be on another host: the files come from the media
    # storage into this host's SAM_ONNX_DIR cache, checked against the manifest's hashes.
    try:
        folder = decoder_files.decoder_fetch(sha256=sha256)
    except (FileNotFoundError, ValueError, *STORAGE_ERRORS) as exc:
        # S3 down, or a stored file that fails its hash: nothing is cached, a retry fetches.
        raise Unavailable(
            f"The model's decoder could not be fetched from the media storage ({exc}); "
            "try again later."
        ) from exc
    # The manifest says which family exported it; both decoders take the stored wire bytes
    # and answer `prepare` / `predict` alike.
    if load_manifest(folder, check_files=False)["model"].get("family") == "sam2":
        return Sam2WireDecoder(folder)
    return OnnxDecoder(folder)
