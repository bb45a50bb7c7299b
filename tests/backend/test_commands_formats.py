"""`manage.py export_annotations` and `manage.py auto_annotate`."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from annotator import services
from annotator.models import Job
from tests import factories


def _annotated_project(name: str = "Cats") -> Any:
    project = factories.project(name=name)
    factories.annotation(factories.image(project, name="a.png"))
    return project


@pytest.mark.django_db
@pytest.mark.parametrize("rle", [False, True])
def test_export_annotations_writes_a_coco_file_pycocotools_loads(tmp_path: Path, rle: bool) -> None:
    from pycocotools.coco import COCO

    project = _annotated_project()
    out = tmp_path / "sub" / "coco.json"
    stdout = StringIO()
    args = ["--project", "Cats", "--format", "coco", "--out", str(out)]
    call_command("export_annotations", *args, *(["--rle"] if rle else []), stdout=stdout)

    assert stdout.getvalue().strip() == str(out)
    coco = COCO(str(out))
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert isinstance(ann["segmentation"], dict) == rle
    assert coco.annToMask(ann).sum() == 100  # the factories' 10 x 10 square
    assert coco.loadCats(ann["category_id"])[0]["name"] == "cat"
    assert project.pk  # found by name


@pytest.mark.django_db
def test_export_annotations_writes_what_the_export_job_writes(tmp_path: Path) -> None:
    project = _annotated_project()
    owner = project.memberships.get(role="owner").user
    job = services.job_create(project=project, kind="export", created_by=owner)
    job = services.job_run(job=job)
    assert job.status == Job.Status.DONE, job.error
    out = tmp_path / "masks.zip"
    job_masks = services.job_run(
        job=services.job_create(
            project=project, kind="export", created_by=owner, params={"format": "masks"}
        )
    )
    call_command("export_annotations", project=str(project.pk), format="coco", out=str(out))
    assert json.loads(out.read_bytes()) == json.loads(job.result.read())
    call_command("export_annotations", project=str(project.pk), format="masks", out=str(out))
    assert out.read_bytes() == job_masks.result.read()


@pytest.mark.django_db
def test_export_annotations_defaults_to_the_jobs_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _annotated_project()
    monkeypatch.chdir(tmp_path)
    call_command(
        "export_annotations", project=str(project.pk), format="yolo_seg", stdout=StringIO()
    )
    assert (tmp_path / "yolo_seg.zip").is_file()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "project,fmt,message",
    [("nope", "coco", "No project"), ("Cats", "voc", "Unknown format"), ("999", "coco", "No")],
)
def test_export_annotations_explains_bad_arguments(project: str, fmt: str, message: str) -> None:
    _annotated_project()
    with pytest.raises(CommandError, match=message):
        call_command("export_annotations", project=project, format=fmt)


@pytest.mark.django_db
def test_export_annotations_refuses_an_ambiguous_name() -> None:
    _annotated_project("Twins")
    _annotated_project("Twins")
    with pytest.raises(CommandError, match="Several projects"):
        call_command("export_annotations", project="Twins", format="coco")


def test_auto_annotate_takes_the_modules_arguments(reference_dir: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(reference_dir / "chelsea.png", images / "chelsea.png")
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "chelsea.txt").write_text("2 0.5 0.5 0.6 0.8\n")
    out = tmp_path / "labels"

    call_command(
        "auto_annotate",
        "--data", str(images), "--det-model", str(boxes), "--device", "cpu",
        "--sam-model", str(reference_dir / "sam_vit_small.pth"), "--output-dir", str(out),
    )  # fmt: skip

    lines = (out / "chelsea.txt").read_text().split("\n")
    fields = lines[0].split()
    assert fields[0] == "2" and len(fields) >= 7 and len(fields) % 2 == 1


def test_auto_annotate_failures_are_command_errors(reference_dir: Path, tmp_path: Path) -> None:
    shutil.copy(reference_dir / "chelsea.png", tmp_path / "chelsea.png")
    bad = tmp_path / "bad.onnx"
    bad.write_text("nope")
    with pytest.raises(CommandError):
        call_command("auto_annotate", "--data", str(tmp_path), "--det-model", str(bad))
