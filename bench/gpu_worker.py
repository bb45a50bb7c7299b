"""The worker stage of bench/gpu_check.py: a real Celery worker embeds uploaded images.

Everything runs on the embedded defaults in a folder of its own (SQLite, the folder broker,
media on disk), so a bare GPU machine needs no server: the images go in through the upload
service, the worker takes them off the embedding queue in batches of SAM_EMBEDDING_BATCH_SIZE
and the rows say when each was ready and how long its computation took.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _png(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    size = (480, 640, 3) if seed % 2 else (640, 480, 3)  # both orientations get padded
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size=size, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _wait_for(condition: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise TimeoutError(f"{what} not done in {timeout:.0f} s; worker log:\n{tail}")
        time.sleep(0.2)


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "default,gpu",
             "--pool=solo", "--concurrency=1", "--loglevel=INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "--hostname", "gpu-check@%h"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _worker_answers() -> bool:
    from annotator.tasks import healthcheck_task

    try:
        healthcheck_task.apply_async(queue="default").get(timeout=3)
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return True


def run_worker_check(
    *, checkpoint: str, device: str, images: int, batch_size: int, var_dir: Path
) -> dict[str, Any]:
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webapp.settings",
        SAM_VAR_DIR=str(var_dir),
        SAM_CHECKPOINT=checkpoint,
        SAM_DEVICE=device,
        SAM_EMBEDDING_BATCH_SIZE=str(batch_size),
        SAM_ALLOW_DOWNLOAD="false",
        SAM_ONNX_VERIFY_PROMPTS="1",
        EMBEDDING_SWEEP_SECONDS="3600",
        PYTHONPATH=path,
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from annotator import services
    from annotator.models import Embedding

    call_command("migrate", verbosity=0)
    log = var_dir / "worker.log"
    worker = _start_worker(dict(os.environ), log)
    try:
        _wait_for(_worker_answers, 120, "worker start", log)
        owner = get_user_model().objects.create_user(username="gpu-check", password="x" * 20)
        project = services.project_create(name="gpu check", created_by=owner, sam_checkpoint=checkpoint)  # fmt: skip

        def upload(seeds: range) -> list[int]:
            files = [SimpleUploadedFile(f"{s}.png", _png(s), "image/png") for s in seeds]
            created = services.image_import(project=project, files=files, uploaded_by=owner)
            return [image.pk for image in created]

        def settled(ids: list[int]) -> bool:
            rows = Embedding.objects.filter(image_id__in=ids, status__in=["ready", "failed"])
            return rows.count() == len(ids)

        # The first batch loads the model and exports its decoder: not what is measured.
        warm = upload(range(1))
        _wait_for(lambda: settled(warm), 600, "warm-up embedding", log)
        start = time.perf_counter()
        ids = upload(range(1, images + 1))
        _wait_for(lambda: settled(ids), 600, f"{images} embeddings", log)
        wall = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    rows = Embedding.objects.filter(image_id__in=ids)
    ready = [r.compute_seconds or 0.0 for r in rows if r.status == "ready"]
    errors = sorted({r.error for r in rows if r.status == "failed"})
    return {
        "device": device,
        "images": images,
        "batch_size": batch_size,
        "ready": len(ready),
        "errors": errors,
        "wall_s": round(wall, 2),
        # Upload to ready, storage and database included.
        "images_per_s": round(images / wall, 2),
        # The worker's own timing of the encoder batches (each row holds its share).
        "compute_images_per_s": round(len(ready) / sum(ready), 2) if ready else 0.0,
    }
