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

from annotator import precompressed, queue
from annotator.models import SamModel


class PermanentError(Exception):
    """Retrying cannot help (missing or wrong checkpoint): the row fails at once."""


def sam_model_get_or_create(*, checkpoint: str | None = None) -> SamModel:
    checkpoint = checkpoint or settings.SAM_CHECKPOINT
    model, _ = SamModel.objects.get_or_create(
        checkpoint=checkpoint, defaults={"model_type": settings.SAM_MODEL_TYPE}
    )
    return model


@functools.lru_cache(maxsize=2)
def loaded_model(checkpoint: str, model_type: str) -> tuple[Any, Path, str]:
    """The model, its checkpoint file and sha256, loaded once per worker process."""
    os.environ.setdefault("SAM_CACHE_DIR", str(settings.SAM_CACHE_DIR))
    from annotator.sam import (
        CheckpointError,
        CheckpointUnavailable,
        build_sam,
        checkpoint_sha256,
        resolve_checkpoint,
    )

    try:
        path = resolve_checkpoint(checkpoint, download=settings.SAM_ALLOW_DOWNLOAD)
        model = build_sam(path, model_type=model_type, device=settings.SAM_DEVICE or None)
    except (CheckpointUnavailable, CheckpointError) as exc:
        raise PermanentError(str(exc)) from exc
    return model, path, checkpoint_sha256(path)


def sam_model_load(*, sam_model: SamModel) -> tuple[Any, Path]:
    model, path, sha = loaded_model(sam_model.checkpoint, sam_model.model_type)
    if sam_model.sha256 != sha:
        SamModel.objects.filter(pk=sam_model.pk).update(sha256=sha)
        sam_model.sha256 = sha
    return model, path


def onnx_dir(sha256: str) -> Path:
    return Path(settings.SAM_ONNX_DIR) / sha256


def sam_model_export(*, sam_model: SamModel) -> Path:
    """Export the decoder graphs for the model into SAM_ONNX_DIR/<sha256>/ unless done already.

    The export writes into a private folder that is renamed into place, so a web process
    never serves a half-written export and two workers exporting at once both end well.
    """
    _, path = sam_model_load(sam_model=sam_model)
    target = onnx_dir(sam_model.sha256)
    if not (target / "manifest.json").is_file():
        # torch again (the exporter traces the model): workers only.
        from export_onnx.export import run_export

        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            run_export(
                path,
                tmp,
                model_type=sam_model.model_type,
                num_prompts=settings.SAM_ONNX_VERIFY_PROMPTS,
            )
            precompressed.gzip_folder(tmp, suffixes=(".onnx", ".json"))
            try:
                os.replace(tmp, target)
            except OSError:
                if not (target / "manifest.json").is_file():
                    raise
        except Exception as exc:
            SamModel.objects.filter(pk=sam_model.pk).update(
                onnx_status=SamModel.OnnxStatus.FAILED, onnx_error=f"{type(exc).__name__}: {exc}"
            )
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    SamModel.objects.filter(pk=sam_model.pk).update(
        onnx_status=SamModel.OnnxStatus.READY, onnx_error=""
    )
    return target


def sam_model_export_request(*, sam_model: SamModel) -> bool:
    """Enqueue the decoder export on a worker; False when the broker is down. Idempotent: the
    worker returns at once when another task has exported it meanwhile."""
    return queue.send(queue.MODEL_EXPORT, [sam_model.pk])


@functools.lru_cache(maxsize=4)
def sam_model_decoder(*, sha256: str) -> Any:
    """The ONNX decoder of a model, loaded once per web process (onnxruntime, no torch; the
    instance is thread-safe)."""
    # onnxruntime is heavy and only the predict endpoint needs it.
    from export_onnx.runtime import OnnxDecoder

    return OnnxDecoder(onnx_dir(sha256))
