"""Many machines, nothing shared but PostgreSQL, Redis and S3.

A web process and two Celery workers (one on the `gpu` queue, one on `default`), each started
in a private working directory with its own SAM_VAR_DIR (so its own media, decoder cache and
checkpoint cache), talk only through the database, the broker and an S3 server (moto's, on
loopback). Through the web's API: an upload, its embedding, the decoder manifest and files that
the gpu worker exported, a server-side predict (the web fetches the decoder from S3), an
everything job, an export job and its download. Then the gpu worker is killed mid-batch and a
second gpu worker, on another private folder, redoes the batch. Nothing is lost or left running.

Runs in `make test-integration` (tests/services.sh: PostgreSQL + Redis); with SQLite or the
folder broker the processes would share local files, which is what this test rules out.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from annotator.models import Embedding, Job
from tests import factories
from tests.conftest import REPO_ROOT, in_ci, stop_worker, worker_env
from tests.faults.conftest import free_port, kill_when_logged, worker_log_wait

pytestmark = [pytest.mark.worker, pytest.mark.integration, pytest.mark.slow]

BUCKET = "multihost"
# Redis databases of their own: a session `celery_worker` of other tests (local media) listens
# on the default ones and must not take this test's tasks.
BROKER_DB, RESULT_DB = 7, 8


@pytest.fixture
def shared_services() -> dict[str, str]:
    from django.db import connection

    broker = django_settings.CELERY_BROKER_URL
    if connection.vendor != "postgresql" or not broker.startswith("redis://"):
        message = "needs PostgreSQL and Redis (make test-integration: tests/services.sh)"
        if in_ci():
            pytest.skip(message + "; the integration pass runs it")
        pytest.skip(message)
    base = broker.rsplit("/", 1)[0]
    return {"broker": f"{base}/{BROKER_DB}", "results": f"{base}/{RESULT_DB}"}


@pytest.fixture
def s3_server() -> Iterator[str]:
    import boto3
    import moto.server as moto_server

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def _s3_keys(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


class Host:
    """One machine: a private folder (its cwd and SAM_VAR_DIR) and the shared services."""

    def __init__(self, root: Path, name: str, shared: dict[str, str], s3: str) -> None:
        self.root = root / name
        self.var = self.root / "var"
        self.var.mkdir(parents=True)
        env = worker_env(
            SAM_VAR_DIR=str(self.var),
            MEDIA_ROOT=str(self.var / "media"),
            SAM_CACHE_DIR=str(self.var / "models"),
            CELERY_BROKER_URL=shared["broker"],
            CELERY_RESULT_BACKEND=shared["results"],
            S3_BUCKET=BUCKET,
            S3_ENDPOINT_URL=s3,
            S3_REGION="us-east-1",
            S3_ACCESS_KEY_ID="testing",
            S3_SECRET_ACCESS_KEY="testing",
            PYTHONPATH=str(REPO_ROOT),
            EMBEDDING_SWEEP_SECONDS="3600",
        )
        # Nothing of the test process's folders: the decoder cache defaults under var/.
        for key in ("SAM_ONNX_DIR", "CELERY_BROKER_TRANSPORT_OPTIONS"):
            env.pop(key, None)
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, cwd=self.root, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def worker(self, queues: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.root / "worker.log"
        name = f"{self.root.name}-{secrets.token_hex(3)}@%h"
        args = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", queues,
                "--pool=solo", "--concurrency=1", "--loglevel=INFO", "-n", name]  # fmt: skip
        proc = self.start(args, log)
        worker_log_wait(log, " ready.", proc, timeout=120)
        return proc, log

    def web(self) -> str:
        port = free_port()
        log = self.root / "web.log"
        args = [sys.executable, str(REPO_ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}",
                "--noreload", "--skip-checks"]  # fmt: skip
        proc = self.start(args, log)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"web exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5):
                    return url
            except urllib.error.HTTPError:
                return url
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"web not up in 60 s:\n{log.read_text()[-3000:]}")


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def call(
        self, method: str, path: str, body: Any = None, *, multipart: bytes | None = None,
        boundary: str = "",
    ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        headers = {"Authorization": f"Token {self.token}"}
        data: bytes | None = None
        if multipart is not None:
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            data = multipart
        elif body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def upload(self, project: int, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        boundary = secrets.token_hex(12)
        parts = []
        for name, data in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                + data
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        code, _, raw = self.call(
            "POST", f"/api/projects/{project}/images/", multipart=body, boundary=boundary
        )
        assert code == 201, raw[:2000]
        uploaded: list[dict[str, Any]] = json.loads(raw)
        return uploaded

    def wait(self, method: str, path: str, ok: int = 200, timeout: float = 300) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            code, _, raw = self.call(method, path)
            if code == ok:
                return raw
            assert code in (202, 503), (path, code, raw[:2000])
            assert time.monotonic() < deadline, f"{path} still {code} after {timeout} s"
            time.sleep(0.5)

    def job_done(self, job: int, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            code, _, raw = self.call("GET", f"/api/jobs/{job}/")
            body: dict[str, Any] = json.loads(raw)
            assert code == 200 and body["status"] != "failed", body
            if body["status"] == "done":
                return body
            assert time.monotonic() < deadline, f"job {job} not done after {timeout} s: {body}"
            time.sleep(0.5)


@pytest.mark.django_db(transaction=True)
def test_web_and_workers_on_separate_hosts_share_only_postgres_redis_and_s3(
    shared_services: dict[str, str], s3_server: str, reference_dir: Path, tmp_path: Path
) -> None:
    from rest_framework.authtoken.models import Token

    owner = factories.user()
    token = Token.objects.create(user=owner).key
    checkpoint = reference_dir / "sam_vit_small.pth"
    project = factories.project(owner=owner, sam_checkpoint=str(checkpoint))
    label = project.labels.first()
    assert label is not None

    hosts = {
        name: Host(tmp_path, name, shared_services, s3_server)
        for name in ("web", "gpu-1", "default", "gpu-2")
    }
    try:
        api = Api(hosts["web"].web(), token)
        gpu, gpu_log = hosts["gpu-1"].worker("gpu")
        hosts["default"].worker("default")

        # An upload, its embedding, computed by the gpu worker into S3.
        photo = (reference_dir / "chelsea.png").read_bytes()
        [image] = api.upload(project.pk, [("chelsea.png", photo)])
        embedding = api.wait("GET", f"/api/images/{image['id']}/embedding")
        row = Embedding.objects.get(image_id=image["id"])
        assert row.status == "ready" and hashlib.sha256(embedding).hexdigest() == row.sha256
        sha = row.sam_model.sha256

        # The decoder the gpu worker exported, served by the web from S3, never from a folder
        # of its own: the web host has no export of it until a predict needs one.
        manifest = json.loads(api.wait("GET", f"/api/models/{sha}/manifest.json"))
        for name, info in manifest["files"].items():
            code, headers, data = api.call("GET", f"/api/models/{sha}/files/{name}")
            assert code == 200 and hashlib.sha256(data).hexdigest() == info["sha256"]
            assert "immutable" in headers["Cache-Control"]
        assert not (hosts["web"].var / "onnx" / sha).exists()
        keys = _s3_keys(s3_server)
        assert f"shared/onnx/{sha}/manifest.json" in keys

        # A server-side predict: the web fetches the decoder from S3 into its own cache.
        prompt = {"point_coords": [[200, 150]], "point_labels": [1]}
        code, _, raw = api.call("POST", f"/api/images/{image['id']}/predict", prompt)
        assert code == 200, raw[:2000]
        predicted = json.loads(raw)
        assert predicted["model_sha256"] == sha and predicted["masks"][0]["area"] > 0
        assert (hosts["web"].var / "onnx" / sha / "manifest.json").is_file()

        # An everything job (gpu queue) and an export job (default queue) and its download. Its
        # masks are proposals; keep_above 0 keeps them all at once, so the export has them.
        everything = {"points_per_side": 4, "pred_iou_thresh": 0.0,
                      "stability_score_thresh": 0.0, "label": label.pk, "keep_above": 0}  # fmt: skip
        code, _, raw = api.call(
            "POST",
            f"/api/projects/{project.pk}/jobs/",
            {"kind": "everything", "params": everything},
        )
        assert code == 202, raw
        api.job_done(json.loads(raw)["id"])
        code, _, raw = api.call("POST", f"/api/projects/{project.pk}/exports/", {"format": "coco"})
        assert code == 202, raw
        job = api.job_done(json.loads(raw)["id"])
        code, _, archive = api.call("GET", f"/api/jobs/{job['id']}/result")
        assert code == 200 and archive
        _assert_export_has_annotations(archive)

        # The gpu worker dies mid-batch; a second gpu worker on another host redoes it.
        batch = api.upload(
            project.pk,
            [(f"{seed}.png", factories.png_bytes(64, 48, seed=seed)) for seed in range(3)],
        )
        kill_when_logged(gpu_log, "encoding 3 image(s)", gpu, timeout=240)
        ids = sorted(Embedding.objects.filter(image_id__in=[i["id"] for i in batch]).values_list(
            "id", flat=True))  # fmt: skip
        assert set(Embedding.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
            "running"
        }
        hosts["gpu-2"].worker("gpu")
        for image in batch:
            api.wait("GET", f"/api/images/{image['id']}/embedding", timeout=240)
        rows = list(Embedding.objects.filter(pk__in=ids))
        assert [(r.status, r.attempts, r.worker) for r in rows] == [("ready", 2, "")] * 3

        # Nothing lost, nothing left running: every embedding's file is in S3, once.
        assert not Embedding.objects.exclude(status="ready").exists()
        assert not Job.objects.exclude(status="done").exists()
        keys = _s3_keys(s3_server)
        files = []
        for row in Embedding.objects.all():
            # Each embedding's file, its gzip twin where one was written (served to clients
            # that accept gzip) and its hover atlas, if any: nothing else.
            files.append(row.file.name)
            if f"{row.file.name}.gz" in keys:
                files.append(f"{row.file.name}.gz")
            if row.atlas:
                files.append(row.atlas.name)
        assert [key for key in keys if key.startswith("embeddings/")] == sorted(files)
        assert not any(".partial" in key or ".tmp" in key for key in keys)
    finally:
        for host in hosts.values():
            for proc in host.procs:
                stop_worker(proc)
    for host in hosts.values():
        assert all(proc.poll() is not None for proc in host.procs)


def _assert_export_has_annotations(archive: bytes) -> None:
    coco = json.loads(archive)
    assert coco["annotations"], "the everything job's masks are in the export"
    assert [image["file_name"] for image in coco["images"]][0].endswith("chelsea.png")
