"""Factories for the backend tests: plain functions over the services, so tests build rows the
way the application does (no factory_boy needed)."""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotator import services
from annotator.models import Annotation, Image, Label, Project, Role

_counter = itertools.count(1)


def user(username: str | None = None, **extra: Any) -> Any:
    name = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=name, password="pw-" + name, **extra)


def project(
    *, owner: Any = None, labels: list[tuple[str, str]] | None = None, **kw: Any
) -> Project:
    return services.project_create(
        name=kw.pop("name", f"Project {next(_counter)}"),
        created_by=owner or user(),
        labels=labels if labels is not None else [("cat", "#ff0000"), ("dog", "#00ff00")],
        **kw,
    )


def member(project: Project, role: str = Role.ANNOTATOR, username: str | None = None) -> Any:
    person = user(username)
    project.memberships.create(user=person, role=role)
    return person


def png_bytes(
    width: int = 64, height: int = 48, mode: str = "RGB", seed: int | None = None, fmt: str = "PNG"
) -> bytes:
    rng = np.random.default_rng(seed if seed is not None else next(_counter))
    array = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = PILImage.fromarray(array, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def upload(data: bytes | None = None, name: str = "image.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else png_bytes(), "image/png")


def image(
    project: Project, *, by: Any = None, data: bytes | None = None, name: str = "a.png"
) -> Image:
    uploader = by or project.memberships.get(role=Role.OWNER).user
    return services.image_create(project=project, file=upload(data, name), uploaded_by=uploader)


def square(x: float, y: float, size: float) -> list[dict[str, Any]]:
    return [{"outer": [[x, y], [x + size, y], [x + size, y + size], [x, y + size]], "holes": []}]


def annotation(img: Image, *, label: Label | None = None, by: Any = None) -> Annotation:
    return services.annotation_create(
        image=img,
        label=label or img.project.labels.first(),
        created_by=by or img.project.memberships.get(role=Role.OWNER).user,
        polygons=square(2, 2, 10),
    )


def set_status(img: Image, status: str) -> Image:
    """Put an image in a status directly, as fixtures do: the API and services only move it
    along annotator/services/review.py's transitions (which tests/backend/test_review.py
    covers), and most tests need a status, not the history that leads to it."""
    Image.objects.filter(pk=img.pk).update(status=status)
    img.refresh_from_db()
    return img
