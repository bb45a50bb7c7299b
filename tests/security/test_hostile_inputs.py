"""Hostile input through the real HTTP API: every case is refused with a precise 4xx and a
readable `detail`, and nothing is stored (no row, no file, no leftover extraction folder).

The statuses, as the code chooses them (README, REST API):
  400  malformed or hostile content: not an image, truncated, a polyglot, a decompression bomb
       (too many pixels), a zip slip, a zip bomb, malformed COCO/YOLO/mask files, geometry and
       prompts that cannot be used, a checkpoint that is not offered to API callers
  413  more bytes than a limit: a file over IMAGE_MAX_UPLOAD_BYTES, a JSON body over
       DATA_UPLOAD_MAX_MEMORY_SIZE
  415  a body in a media type the endpoint does not parse (JSON sent to a multipart upload)

One table, `CASES`: what is sent, by whom, and what must come back. The last tests cover the one
hostile input that does not arrive over HTTP: a checkpoint that is a malicious pickle, registered
by an administrator, which the worker must refuse without running it.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotator.models import (
    Annotation,
    Embedding,
    Image,
    Job,
    Label,
    Membership,
    Project,
    SamModel,
)
from tests import factories
from tests.backend import conftest as backend

# The backend fixtures (media in a temp dir and no broker, both autouse; a client per role; a
# project with one user per role): pytest finds fixtures among a module's attributes.
client_for, media_root = backend.client_for, backend.media_root
no_broker, project_with_roles = backend.no_broker, backend.project_with_roles

WIDTH, HEIGHT = 64, 48  # the project's image, "a.png"


# --- Hostile files -------------------------------------------------------------------------------


def _encode(image: PILImage.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


def _photo(fmt: str = "PNG", seed: int = 1) -> bytes:
    return factories.png_bytes(40, 30, seed=seed, fmt=fmt)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A 1-bit PNG whose header claims width x height; the file is a few hundred bytes."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9))
        + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is patched to claim width x height."""
    data = bytearray(_photo("JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def png_with_text_bomb() -> bytes:
    """A valid PNG with a zTXt chunk that inflates to 32 MB (PIL caps text chunks at 1 MB)."""
    png = _photo()
    bomb = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * (32 * 1024 * 1024), 9))
    return png[:33] + bomb + png[33:]  # after the signature and IHDR


def zip_of(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_with_symlink() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.png", _photo())
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (0o120777 << 16) | 0x20  # S_IFLNK
        archive.writestr(link, "/etc/passwd")
    return out.getvalue()


def zip_encrypted() -> bytes:
    """A stored entry flagged as encrypted (bit 0), in the local header and the directory."""
    data = bytearray(zip_of({"a.png": _photo()}))
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | 1)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 1)
    return bytes(data)


def zip_many_entries(count: int) -> bytes:
    return zip_of({f"{i}.png": b"" for i in range(count)})


def zip_bomb() -> bytes:
    """One entry of 64 MB of zeros, about 64 kB deflated (~1000:1)."""
    return zip_of({"zeros.png": b"\0" * (64 * 1024 * 1024)}, zipfile.ZIP_DEFLATED)


# Formats PIL can decode but uploads do not accept: EPS runs Ghostscript where it is installed.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n%%EOF\n"
XBM = b"#define i_width 8\n#define i_height 2\nstatic char i_bits[] = {0x13, 0x00};\n"


def ico() -> bytes:
    return _encode(PILImage.new("RGB", (16, 16), (1, 2, 3)), "ICO")


HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/projects/')</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
    b'onload="alert(1)"><rect width="10" height="10"/></svg>'
)


# --- Hostile annotation files --------------------------------------------------------------------


def coco(**changes: Any) -> dict[str, Any]:
    """A valid COCO file for the project's image, with `changes` applied (None deletes)."""
    doc: dict[str, Any] = {
        "images": [{"id": 1, "file_name": "a.png", "width": WIDTH, "height": HEIGHT}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[4, 4, 20, 4, 20, 20, 4, 20]],
                "bbox": [4, 4, 16, 16],
            }
        ],
    }
    for key, value in changes.items():
        if value is None:
            del doc[key]
        else:
            doc[key] = value
    return doc


def coco_annotation(**changes: Any) -> dict[str, Any]:
    ann = dict(coco()["annotations"][0])
    ann.update(changes)
    return coco(annotations=[ann])


def json_bytes(doc: Any) -> bytes:
    # allow_nan: the hostile files carry NaN and Infinity literals, which json.loads accepts.
    return json.dumps(doc, allow_nan=True).encode()


def yolo_seg(label_line: str, names: str = "names: [cat, dog]") -> bytes:
    return zip_of({"data.yaml": names.encode(), "labels/a.txt": label_line.encode()})


def masks_zip(instances: list[dict[str, Any]], mask: np.ndarray | None = None) -> bytes:
    values = mask if mask is not None else np.zeros((HEIGHT, WIDTH), np.uint8)
    if mask is None:
        values[4:20, 4:20] = 1
    doc = {
        "mode": "instance",
        "labels": ["cat"],
        "images": [
            {
                "file_name": "a.png",
                "mask": "masks/a.png",
                "width": WIDTH,
                "height": HEIGHT,
                "instances": instances,
            }
        ],
    }
    png = _encode(PILImage.fromarray(values, "L"), "PNG")
    return zip_of({"labels.json": json_bytes(doc), "masks/a.png": png})


def masks_declaring(width: int, height: int) -> bytes:
    doc = {
        "mode": "instance",
        "labels": ["cat"],
        "images": [
            {
                "file_name": "a.png",
                "mask": "masks/a.png",
                "width": width,
                "height": height,
                "instances": [{"id": 1, "label": "cat"}],
            }
        ],
    }
    return zip_of({"labels.json": json_bytes(doc), "masks/a.png": png_declaring(width, height)})


# --- Hostile geometry and prompts ----------------------------------------------------------------


def square(x: float = 4, y: float = 4, size: float = 16) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size]]


BOW_TIE = [[4, 4], [40, 40], [40, 4], [4, 24]]  # two lobes of different areas, edges 0 and 2 cross


def circle(points: int) -> list[list[float]]:
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    return [[32 + 20 * math.cos(a), 24 + 20 * math.sin(a)] for a in angles]


# --- The catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    project: Project
    image: Image
    annotation: Annotation
    label: Label


@dataclass(frozen=True)
class Case:
    """One hostile request. `send` builds the client call's arguments from the world."""

    id: str
    role: str
    method: str
    url: str  # formatted with project, image, annotation
    send: Callable[[World], dict[str, Any]]
    status: int
    detail: str  # a fragment the detail must contain (case-insensitive)
    settings: dict[str, Any] = field(default_factory=dict)


def upload(*files: tuple[str, bytes]) -> Callable[[World], dict[str, Any]]:
    def send(world: World) -> dict[str, Any]:
        uploads = [SimpleUploadedFile(name, data) for name, data in files]
        return {"data": {"files": uploads}, "format": "multipart"}

    return send


def import_file(fmt: str, data: bytes, name: str = "upload.zip") -> Callable[[World], Any]:
    def send(world: World) -> dict[str, Any]:
        body = {"file": SimpleUploadedFile(name, data), "format": fmt}
        return {"data": body, "format": "multipart"}

    return send


def json_body(body: Callable[[World], Any] | Any) -> Callable[[World], dict[str, Any]]:
    def send(world: World) -> dict[str, Any]:
        value = body(world) if callable(body) else body
        raw = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
        return {"data": raw, "content_type": "application/json"}

    return send


def polygons(*rings: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"label": w.label.pk, "polygons": [{"outer": r, "holes": []} for r in rings]}


def geometry(body: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"label": w.label.pk, **body}


def update(body: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"version": w.annotation.version, **body}


def prompts(**body: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: body


IMAGES = "/api/projects/{project}/images/"
IMPORTS = "/api/projects/{project}/imports/"
ANNOTATIONS = "/api/images/{image}/annotations/"
ANNOTATION = "/api/annotations/{annotation}/"
PREDICT = "/api/images/{image}/predict"
JOBS = "/api/projects/{project}/jobs/"
PROJECTS = "/api/projects/"

M, A, OWNER = "manager", "annotator", "owner"


def _upload_cases() -> list[Case]:
    png, jpeg, gif = _photo(), _photo("JPEG"), _photo("GIF")
    inner_zip = zip_of({"b.png": _photo(seed=3)})
    return [
        # Decompression bombs: refused from the header, before any pixel is allocated.
        Case("png-declares-50000x50000", M, "post", IMAGES,
             upload(("bomb.png", png_declaring(50_000, 50_000))), 400, "IMAGE_MAX_PIXELS"),
        Case("png-declares-12000x10000", M, "post", IMAGES,
             upload(("bomb.png", png_declaring(12_000, 10_000))), 400, "IMAGE_MAX_PIXELS"),
        Case("png-1bit-4000x4000-over-lowered-limit", M, "post", IMAGES,
             upload(("bomb.png", _encode(PILImage.new("1", (4000, 4000)), "PNG"))),
             400, "IMAGE_MAX_PIXELS", {"IMAGE_MAX_PIXELS": 1_000_000}),
        Case("jpeg-declares-65000x65000", M, "post", IMAGES,
             upload(("bomb.jpg", jpeg_declaring(65_000, 65_000))), 400, "IMAGE_MAX_PIXELS"),
        Case("png-ztxt-text-bomb", M, "post", IMAGES,
             upload(("text.png", png_with_text_bomb())), 400, "too large"),
        # Truncated files.
        Case("truncated-png", M, "post", IMAGES,
             upload(("cut.png", factories.png_bytes(200, 200, seed=4)[:2000])), 400, "truncated"),
        Case("truncated-jpeg", M, "post", IMAGES,
             upload(("cut.jpg", factories.png_bytes(200, 200, seed=5, fmt="JPEG")[:3000])),
             400, "truncated"),
        Case("png-without-iend", M, "post", IMAGES,
             upload(("cut.png", png[:-12])), 400, "truncated"),
        # Polyglots: a valid image with another file appended.
        Case("png-plus-zip", M, "post", IMAGES,
             upload(("poly.png", png + zip_of({"x.html": HTML}))), 400, "polyglot"),
        Case("png-plus-html", M, "post", IMAGES,
             upload(("poly.png", png + HTML)), 400, "polyglot"),
        Case("jpeg-plus-zip", M, "post", IMAGES,
             upload(("poly.jpg", jpeg + zip_of({"evil.class": b"\xca\xfe\xba\xbe"}))),
             400, "polyglot"),
        Case("gifar", M, "post", IMAGES,
             upload(("poly.gif", gif + zip_of({"META-INF/MANIFEST.MF": b"Main-Class: X\n"}))),
             400, "polyglot"),
        # Not images at all, whatever the name says.
        Case("html-named-png", M, "post", IMAGES, upload(("x.png", HTML)), 400, "not an image"),
        Case("svg-named-png", M, "post", IMAGES, upload(("x.png", SVG)), 400, "not an image"),
        Case("eps-named-png", M, "post", IMAGES, upload(("x.png", EPS)), 400, "supported format"),
        Case("xbm-named-png", M, "post", IMAGES, upload(("x.png", XBM)), 400, "supported format"),
        Case("ico-named-png", M, "post", IMAGES, upload(("x.png", ico())), 400, "supported format"),
        Case("png-magic-then-html", M, "post", IMAGES,
             upload(("x.png", b"\x89PNG\r\n\x1a\n" + HTML)), 400, "image"),
        # One bad file refuses the whole batch (the good one is not kept).
        Case("good-then-html", M, "post", IMAGES,
             upload(("good.png", _photo(seed=6)), ("x.png", HTML)), 400, "x.png"),
        # Zip slip and other escapes.
        Case("zip-dot-dot", M, "post", IMAGES,
             upload(("s.zip", zip_of({"ok.png": _photo(seed=7), "../evil.png": png}))),
             400, "escapes"),
        Case("zip-nested-dot-dot", M, "post", IMAGES,
             upload(("s.zip", zip_of({"a/../../evil.png": png}))), 400, "escapes"),
        Case("zip-absolute", M, "post", IMAGES,
             upload(("s.zip", zip_of({"/etc/evil.png": png}))), 400, "absolute"),
        Case("zip-drive-letter", M, "post", IMAGES,
             upload(("s.zip", zip_of({"C:\\evil.png": png}))), 400, "absolute"),
        Case("zip-backslash-dot-dot", M, "post", IMAGES,
             upload(("s.zip", zip_of({"..\\evil.png": png}))), 400, "escapes"),
        Case("zip-symlink", M, "post", IMAGES,
             upload(("s.zip", zip_with_symlink())), 400, "symbolic link"),
        # Zip bombs.
        Case("zip-bomb-ratio", M, "post", IMAGES, upload(("b.zip", zip_bomb())), 400, "zip bomb"),
        Case("zip-10001-entries", M, "post", IMAGES,
             upload(("b.zip", zip_many_entries(10_001))), 400, "at most 10000"),
        Case("zip-expands-past-limit", M, "post", IMAGES,
             upload(("b.zip", zip_of({"a.png": _photo(seed=8), "b.png": _photo(seed=9)}))),
             400, "expands", {"IMAGE_MAX_ZIP_BYTES": 1000}),
        Case("zip-entry-over-upload-limit", M, "post", IMAGES,
             upload(("b.zip", zip_of({"a.png": factories.png_bytes(200, 200, seed=10)}))),
             413, "IMAGE_MAX_UPLOAD_BYTES", {"IMAGE_MAX_UPLOAD_BYTES": 50_000}),
        Case("zip-in-zip", M, "post", IMAGES,
             upload(("n.zip", zip_of({"a.png": _photo(seed=11), "inner.zip": inner_zip}))),
             400, "zip inside the zip"),
        Case("zip-encrypted-entry", M, "post", IMAGES,
             upload(("e.zip", zip_encrypted())), 400, "encrypted"),
        Case("zip-truncated", M, "post", IMAGES,
             upload(("t.zip", zip_of({"a.png": png})[:60])), 400, "zip"),
        Case("zip-empty", M, "post", IMAGES, upload(("e.zip", zip_of({}))), 400, "no images"),
        # Sizes.
        Case("file-over-upload-limit", M, "post", IMAGES,
             upload(("big.png", factories.png_bytes(200, 200, seed=12))),
             413, "IMAGE_MAX_UPLOAD_BYTES", {"IMAGE_MAX_UPLOAD_BYTES": 50_000}),
        Case("101-files-in-one-upload", M, "post", IMAGES,
             upload(*[(f"{i}.txt", b"x") for i in range(101)]), 400, "too many parts"),
        Case("1001-form-fields", M, "post", IMPORTS,
             lambda w: {"data": {f"f{i}": "x" for i in range(1001)}, "format": "multipart"},
             400, "too many parts"),
        Case("json-to-the-upload", M, "post", IMAGES,
             json_body({"files": ["a.png"]}), 415, "Unsupported media type"),
    ]  # fmt: skip


def _import_cases() -> list[Case]:
    good_ann = coco()["annotations"][0]
    return [
        # COCO: not JSON, wrong types, missing keys.
        Case("coco-not-json", M, "post", IMPORTS,
             import_file("coco", b"{not json", "c.json"), 400, "not a valid COCO JSON"),
        Case("coco-nested-100000-deep", M, "post", IMPORTS,
             import_file("coco", b"[" * 100_000 + b"]" * 100_000, "c.json"),
             400, "nested too deeply"),
        Case("coco-top-level-list", M, "post", IMPORTS,
             import_file("coco", json_bytes([coco()]), "c.json"), 400, "JSON object"),
        Case("coco-images-is-an-object", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(images={"1": "a.png"})), "c.json"),
             400, "images must be list"),
        Case("coco-width-is-a-string", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(images=[
                 {"id": 1, "file_name": "a.png", "width": "64", "height": HEIGHT}])), "c.json"),
             400, "width must be int"),
        Case("coco-no-categories", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(categories=None)), "c.json"),
             400, "missing 'categories'"),
        Case("coco-annotation-without-category", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(annotations=[
                 {k: v for k, v in good_ann.items() if k != "category_id"}])), "c.json"),
             400, "missing 'category_id'"),
        # COCO: numbers that are not numbers.
        Case("coco-segmentation-nan", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(
                 segmentation=[[4, 4, float("nan"), 4, 20, 20]])), "c.json"),
             400, "non-finite"),
        Case("coco-segmentation-infinity", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(
                 segmentation=[[4, 4, float("inf"), 4, 20, 20]])), "c.json"),
             400, "non-finite"),
        Case("coco-segmentation-1e999", M, "post", IMPORTS,
             import_file("coco", b'{"images": [{"id": 1, "file_name": "a.png", "width": 64, '
                         b'"height": 48}], "categories": [{"id": 1, "name": "cat"}], '
                         b'"annotations": [{"id": 1, "image_id": 1, "category_id": 1, '
                         b'"segmentation": [[4, 4, 1e999, 4, 20, 20]]}]}', "c.json"),
             400, "non-finite"),
        Case("coco-polygon-of-one-point", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(segmentation=[[10, 10]])), "c.json"),
             400, ">= 6"),
        Case("coco-polygon-far-outside", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(
                 segmentation=[[4, 4, 1e300, 4, 20, 20]])), "c.json"),
             400, "outside"),
        Case("coco-bbox-negative", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(
                 segmentation=[], bbox=[4, 4, -10, 8])), "c.json"),
             400, "negative"),
        Case("coco-bbox-1e308", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(
                 segmentation=[], bbox=[0, 0, 1e308, 1e308])), "c.json"),
             400, "outside"),
        Case("coco-score-nan", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(score=float("nan"))), "c.json"),
             400, "non-finite"),
        # COCO: references to nothing.
        Case("coco-image-id-points-nowhere", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(image_id=999)), "c.json"),
             400, "does not match any image"),
        Case("coco-category-id-points-nowhere", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(category_id=999)), "c.json"),
             400, "does not match any category"),
        Case("coco-file-name-escapes", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(images=[
                 {"id": 1, "file_name": "../../etc/passwd", "width": WIDTH, "height": HEIGHT}])),
                 "c.json"),
             400, "relative path"),
        # COCO: huge counts and sizes.
        Case("coco-rle-counts-past-int64", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(segmentation={
                 "size": [HEIGHT, WIDTH], "counts": [2**70]})), "c.json"),
             400, "counts"),
        Case("coco-rle-counts-wrapping-int64", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco_annotation(segmentation={
                 "size": [HEIGHT, WIDTH], "counts": [WIDTH * HEIGHT] + [2**62] * 4})), "c.json"),
             400, "counts"),
        Case("coco-image-100000x100000", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(images=[
                 {"id": 1, "file_name": "a.png", "width": 100_000, "height": 100_000}])),
                 "c.json"),
             400, "pixels"),
        Case("coco-category-name-of-10000-characters", M, "post", IMPORTS,
             import_file("coco", json_bytes(coco(categories=[{"id": 1, "name": "x" * 10_000}])),
                         "c.json"),
             400, "over 100 characters"),
        Case("yolo-class-name-of-10000-characters", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 0.5 0.1 0.5 0.5\n",
                                              "names: [" + "y" * 10_000 + "]")),
             400, "over 100 characters"),
        Case("coco-zip-with-two-json", M, "post", IMPORTS,
             import_file("coco", zip_of({"a.json": json_bytes(coco()),
                                         "b.json": json_bytes(coco())})),
             400, "exactly one"),
        Case("coco-zip-slip", M, "post", IMPORTS,
             import_file("coco", zip_of({"../../evil.json": json_bytes(coco())})),
             400, "zip slip"),
        Case("coco-zip-absolute", M, "post", IMPORTS,
             import_file("coco", zip_of({"/tmp/evil.json": json_bytes(coco())})),
             400, "absolute"),
        Case("masks-zip-expands-past-limit", M, "post", IMPORTS,
             import_file("masks", masks_zip([{"id": 1, "label": "cat"}])),
             400, "expands to more than 200 bytes", {"IMAGE_MAX_ZIP_BYTES": 200}),
        Case("yolo-zip-expands-past-limit", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 0.5 0.1 0.5 0.5\n" * 100)),
             400, "expands to more than 1000 bytes", {"IMAGE_MAX_ZIP_BYTES": 1000}),
        Case("yolo-boxes-zip-expands-past-limit", M, "post", IMPORTS,
             import_file("yolo_boxes", zip_of({"a.txt": b"0 0.5 0.5 0.2 0.2\n" * 100})),
             400, "expands to more than 1000 bytes", {"IMAGE_MAX_ZIP_BYTES": 1000}),
        Case("coco-zip-bomb", M, "post", IMPORTS,
             import_file("coco", zip_of({"a.json": b" " * (16 * 1024 * 1024)},
                                        zipfile.ZIP_DEFLATED)),
             400, "zip bomb"),
        # YOLO-seg lines.
        Case("yolo-odd-coordinate-count", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 0.5 0.1 0.5\n")), 400, "even number"),
        Case("yolo-nan", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 nan 0.1 0.5 0.5\n")), 400, "normalised"),
        Case("yolo-inf", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 inf 0.1 0.5 0.5\n")), 400, "normalised"),
        Case("yolo-out-of-range", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 1.5 0.1 0.5 0.5\n")), 400, "normalised"),
        Case("yolo-unknown-class", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("7 0.1 0.1 0.5 0.1 0.5 0.5\n")),
             400, "not in data.yaml"),
        Case("yolo-negative-class", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("-1 0.1 0.1 0.5 0.1 0.5 0.5\n")),
             400, "not in data.yaml"),
        Case("yolo-not-numbers", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("cat 0.1 0.1 0.5 0.1 0.5 0.5\n")),
             400, "expected 'class x y"),
        Case("yolo-self-intersecting-area-zero", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 0.5 0.5 0.5 0.1 0.1 0.5\n")),
             400, "encloses no area"),
        Case("yolo-data-yaml-nested-deep", M, "post", IMPORTS,
             import_file("yolo_seg", yolo_seg("0 0.1 0.1 0.5 0.1 0.5 0.5\n",
                                              "names: " + "[" * 20_000 + "]" * 20_000)),
             400, "nested too deeply"),
        Case("yolo-no-data-yaml", M, "post", IMPORTS,
             import_file("yolo_seg", zip_of({"labels/a.txt": b"0 0.1 0.1 0.5 0.1 0.5 0.5\n"})),
             400, "no data.yaml"),
        # YOLO boxes (prompts for an auto-annotation job: no Job may be created).
        Case("yolo-boxes-far-off-the-image", M, "post", IMPORTS,
             import_file("yolo_boxes", zip_of({"a.txt": b"0 1e300 0.5 0.5 0.5\n"})),
             400, "normalised"),
        Case("yolo-boxes-negative-size", M, "post", IMPORTS,
             import_file("yolo_boxes", zip_of({"a.txt": b"0 0.5 0.5 -0.2 0.5\n"})),
             400, "normalised"),
        Case("yolo-boxes-zero-size", M, "post", IMPORTS,
             import_file("yolo_boxes", zip_of({"a.txt": b"0 0.5 0.5 0 0.5\n"})),
             400, "no width or height"),
        Case("yolo-boxes-nan", M, "post", IMPORTS,
             import_file("yolo_boxes", zip_of({"a.txt": b"0 nan 0.5 0.2 0.5\n"})),
             400, "line 1"),
        # PNG masks.
        Case("masks-labels-json-nested-deep", M, "post", IMPORTS,
             import_file("masks", zip_of({"labels.json": b"[" * 100_000 + b"]" * 100_000})),
             400, "nested too deeply"),
        Case("masks-score-nan", M, "post", IMPORTS,
             import_file("masks", masks_zip([{"id": 1, "label": "cat", "score": float("nan")}])),
             400, "finite"),
        Case("masks-unknown-instance-id", M, "post", IMPORTS,
             import_file("masks", masks_zip([])), 400, "missing from instances"),
        Case("masks-png-declares-50000x50000", M, "post", IMPORTS,
             import_file("masks", masks_declaring(50_000, 50_000)), 400, "masks"),
        Case("masks-mask-is-eps", M, "post", IMPORTS,
             import_file("masks", zip_of({
                 "labels.json": json_bytes({"mode": "instance", "labels": ["cat"], "images": [{
                     "file_name": "a.png", "mask": "masks/a.png", "width": 10, "height": 10,
                     "instances": []}]}),
                 "masks/a.png": EPS})),
             400, "not a readable PNG"),
        Case("yolo-image-is-eps", M, "post", IMPORTS,
             import_file("yolo_seg", zip_of({
                 "data.yaml": b"names: [cat]", "images/a.png": EPS,
                 "labels/a.txt": b"0 0.1 0.1 0.5 0.1 0.5 0.5\n"})),
             # The archive's images go through the upload checks (images in the import zip).
             400, "not an image in a supported format"),
        Case("masks-zip-slip-in-mask-path", M, "post", IMPORTS,
             import_file("masks", zip_of({"labels.json": json_bytes({
                 "mode": "instance", "labels": ["cat"], "images": [{
                     "file_name": "a.png", "mask": "../../../etc/passwd", "width": WIDTH,
                     "height": HEIGHT, "instances": []}]})})),
             400, "not a file in the archive"),
        Case("import-json-not-multipart", M, "post", IMPORTS,
             json_body({"format": "coco", "file": "a.json"}), 415, "Unsupported media type"),
    ]  # fmt: skip


def _geometry_cases() -> list[Case]:
    return [
        Case("polygon-self-intersecting", A, "post", ANNOTATIONS,
             json_body(polygons(BOW_TIE)), 400, "crosses itself"),
        Case("polygon-bow-tie-zero-area", A, "post", ANNOTATIONS,
             json_body(polygons([[4, 4], [20, 20], [20, 4], [4, 20]])), 400, "no area"),
        Case("hole-self-intersecting", A, "post", ANNOTATIONS,
             json_body(lambda w: {"label": w.label.pk, "polygons": [
                 {"outer": [[0, 0], [60, 0], [60, 44], [0, 44]], "holes": [BOW_TIE]}]}),
             400, "holes[0] crosses itself"),
        Case("polygon-nan-literal", A, "post", ANNOTATIONS,
             json_body(polygons([[4, 4], [float("nan"), 4], [20, 20]])), 400, "JSON parse error"),
        Case("polygon-infinity-literal", A, "post", ANNOTATIONS,
             json_body(polygons([[4, 4], [float("inf"), 4], [20, 20]])), 400, "JSON parse error"),
        Case("polygon-1e999", A, "post", ANNOTATIONS,
             json_body(lambda w: f'{{"label": {w.label.pk}, "polygons": [{{"outer": '
                       '[[4, 4], [1e999, 4], [20, 20]]}]}'),
             400, "valid JSON"),
        Case("polygon-nan-string", A, "post", ANNOTATIONS,
             json_body(polygons([[4, 4], ["NaN", 4], [20, 20]])), 400, "non-numeric"),
        Case("polygon-1e308", A, "post", ANNOTATIONS,
             json_body(polygons([[4, 4], [1e308, 4], [20, 20]])), 400, "outside"),
        Case("polygon-100001-vertices", A, "post", ANNOTATIONS,
             json_body(polygons(circle(100_001))), 400, "more than 100000 points"),
        Case("polygon-10001-parts", A, "post", ANNOTATIONS,
             json_body(polygons(*[square(1, 1, 2)] * 10_001)), 400, "at most 10000"),
        Case("polygon-two-points", A, "post", ANNOTATIONS,
             json_body(polygons([[4, 4], [20, 20]])), 400, "at least 3"),
        Case("polygons-empty-list", A, "post", ANNOTATIONS,
             json_body(geometry({"polygons": []})), 400, "covers no pixel"),
        Case("polygon-empty-ring", A, "post", ANNOTATIONS,
             json_body(polygons([])), 400, "at least 3"),
        Case("polygons-an-object", A, "post", ANNOTATIONS,
             json_body(geometry({"polygons": {"outer": square()}})), 400, "must be a list"),
        Case("polygon-and-rle", A, "post", ANNOTATIONS,
             json_body(lambda w: {"label": w.label.pk, "polygons": [{"outer": square()}],
                                  "rle": {"size": [HEIGHT, WIDTH], "counts": [WIDTH * HEIGHT]}}),
             400, "exactly one"),
        Case("rle-counts-past-int64", A, "post", ANNOTATIONS,
             json_body(geometry({"rle": {"size": [HEIGHT, WIDTH], "counts": [2**70]}})),
             400, "counts"),
        Case("rle-counts-wrapping-int64", A, "post", ANNOTATIONS,
             json_body(geometry({"rle": {"size": [HEIGHT, WIDTH],
                                         "counts": [WIDTH * HEIGHT] + [2**62] * 4}})),
             400, "counts"),
        Case("rle-size-of-another-image", A, "post", ANNOTATIONS,
             json_body(geometry({"rle": {"size": [30000, 30000], "counts": [900_000_000]}})),
             400, "rle.size"),
        Case("rle-counts-garbage-string", A, "post", ANNOTATIONS,
             json_body(geometry({"rle": {"size": [HEIGHT, WIDTH], "counts": "\u00ff\u00fe"}})),
             400, "ASCII"),
        Case("score-nan-string", A, "post", ANNOTATIONS,
             json_body(lambda w: {"label": w.label.pk, "polygons": [{"outer": square()}],
                                  "score": "NaN"}),
             400, "valid number"),
        Case("json-nested-100000-deep", A, "post", ANNOTATIONS,
             json_body("[" * 100_000 + "]" * 100_000), 400, "nested too deeply"),
        Case("json-body-over-16-mb", A, "post", ANNOTATIONS,
             json_body(lambda w: {"label": w.label.pk, "pad": "x" * (17 * 1024 * 1024)}),
             413, "too large"),
        Case("prompts-of-a-megabyte", A, "post", ANNOTATIONS,
             json_body(lambda w: {"label": w.label.pk, "polygons": [{"outer": square()}],
                                  "prompts": {"points": "x" * (1024 * 1024)}}),
             400, "at most 65536 bytes"),
        Case("bulk-1001-creates", A, "post", "/api/annotations/bulk",
             json_body(lambda w: {"image": w.image.pk, "create": [
                 {"label": w.label.pk, "polygons": [{"outer": square()}]}] * 1001}),
             400, "no more than 1000"),
        # Updates: the annotation keeps its version and its geometry.
        Case("update-self-intersecting", A, "patch", ANNOTATION,
             json_body(update({"polygons": [{"outer": BOW_TIE}]})), 400, "crosses itself"),
        Case("update-nan-string", A, "patch", ANNOTATION,
             json_body(update({"polygons": [{"outer": [[4, 4], ["nan", 4], [20, 20]]}]})),
             400, "non-numeric"),
        Case("update-100001-vertices", A, "patch", ANNOTATION,
             json_body(update({"polygons": [{"outer": circle(100_001)}]})),
             400, "more than 100000 points"),
        Case("update-prompts-of-a-megabyte", A, "patch", ANNOTATION,
             json_body(update({"prompts": {"box": "x" * (1024 * 1024)}})),
             400, "at most 65536 bytes"),
        Case("update-empty", A, "patch", ANNOTATION,
             json_body(update({"polygons": []})), 400, "covers no pixel"),
        # Bulk: one bad item among good ones stores none of them.
        Case("bulk-good-then-self-intersecting", A, "post", "/api/annotations/bulk",
             json_body(lambda w: {"image": w.image.pk, "create": [
                 {"label": w.label.pk, "polygons": [{"outer": square()}]},
                 {"label": w.label.pk, "polygons": [{"outer": BOW_TIE}]}]}),
             400, "create[1]"),
    ]  # fmt: skip


def _prompt_cases() -> list[Case]:
    return [
        Case("points-nan-literal", A, "post", PREDICT,
             json_body('{"point_coords": [[NaN, 5]], "point_labels": [1]}'),
             400, "JSON parse error"),
        Case("points-infinity-literal", A, "post", PREDICT,
             json_body('{"point_coords": [[Infinity, 5]], "point_labels": [1]}'),
             400, "JSON parse error"),
        Case("points-nan-string", A, "post", PREDICT,
             json_body(prompts(point_coords=[["NaN", 5]], point_labels=[1])), 400, "valid number"),
        Case("points-1e999", A, "post", PREDICT,
             json_body('{"point_coords": [[1e999, 5]], "point_labels": [1]}'),
             400, "valid number"),
        Case("points-1e308", A, "post", PREDICT,
             json_body(prompts(point_coords=[[1e308, 5]], point_labels=[1])), 400, "outside"),
        Case("points-negative", A, "post", PREDICT,
             json_body(prompts(point_coords=[[-1000, 5]], point_labels=[1])), 400, "outside"),
        Case("points-10000", A, "post", PREDICT,
             json_body(prompts(point_coords=[[5, 5]] * 10_000, point_labels=[1] * 10_000)),
             400, "no more than 64"),
        Case("points-of-three-coordinates", A, "post", PREDICT,
             json_body(prompts(point_coords=[[5, 5, 5]], point_labels=[1])), 400, "no more than 2"),
        Case("points-a-string", A, "post", PREDICT,
             json_body(prompts(point_coords="5,5", point_labels=[1])), 400, "list"),
        Case("labels-not-0-or-1", A, "post", PREDICT,
             json_body(prompts(point_coords=[[5, 5]], point_labels=[2])), 400, "valid choice"),
        Case("labels-of-another-length", A, "post", PREDICT,
             json_body(prompts(point_coords=[[5, 5]], point_labels=[1, 0])), 400, "differ"),
        Case("box-of-three-numbers", A, "post", PREDICT,
             json_body(prompts(box=[1, 2, 3])), 400, "at least 4"),
        Case("box-nested", A, "post", PREDICT,
             json_body(prompts(box=[[1, 2], [3, 4], [5, 6], [7, 8]])), 400, "valid number"),
        Case("box-x1-before-x0", A, "post", PREDICT,
             json_body(prompts(box=[30, 5, 10, 20])), 400, "x0 < x1"),
        Case("box-empty", A, "post", PREDICT,
             json_body(prompts(box=[10, 5, 10, 20])), 400, "x0 < x1"),
        Case("box-1e308", A, "post", PREDICT,
             json_body(prompts(box=[0, 0, 1e308, 1e308])), 400, "outside"),
        Case("no-prompt", A, "post", PREDICT, json_body(prompts()), 400, "at least one point"),
        # Auto-annotation jobs take boxes and everything-mode options: refused before a Job.
        Case("job-boxes-x1-before-x0", M, "post", JOBS,
             json_body(lambda w: {"kind": "auto_annotate", "params": {
                 "label": w.label.pk, "boxes": {str(w.image.pk): [[30, 5, 10, 20]]}}}),
             400, "x0 < x1"),
        Case("job-boxes-1e308", M, "post", JOBS,
             json_body(lambda w: {"kind": "auto_annotate", "params": {
                 "label": w.label.pk, "boxes": {str(w.image.pk): [[0, 0, 1e308, 10]]}}}),
             400, "on the 64x48 image"),
        Case("job-everything-10**6-points-per-side", M, "post", JOBS,
             json_body(lambda w: {"kind": "everything", "params": {
                 "label": w.label.pk, "points_per_side": 10**6}}),
             400, "points_per_side"),
        Case("job-everything-threshold-nan-string", M, "post", JOBS,
             json_body(lambda w: {"kind": "everything", "params": {
                 "label": w.label.pk, "pred_iou_thresh": "NaN"}}),
             400, "pred_iou_thresh"),
        Case("job-everything-label-a-string", M, "post", JOBS,
             json_body({"kind": "everything", "params": {"label": "abc"}}), 400, "`label`"),
        Case("job-everything-label-a-list", M, "post", JOBS,
             json_body({"kind": "everything", "params": {"label": [1]}}), 400, "`label`"),
        Case("job-everything-label-a-fraction", M, "post", JOBS,
             json_body({"kind": "everything", "params": {"label": 1.5}}), 400, "`label`"),
        Case("job-auto-annotate-label-an-object", M, "post", JOBS,
             json_body(lambda w: {"kind": "auto_annotate", "params": {
                 "label": {"id": 1}, "boxes": {str(w.image.pk): [[1, 1, 10, 10]]}}}),
             400, "`label`"),
        Case("job-detector-a-list", M, "post", JOBS,
             json_body({"kind": "auto_annotate", "params": {"detector": ["x"], "label": 1}}),
             400, "`detector`"),
        Case("job-class-labels-unhashable", M, "post", JOBS,
             json_body({"kind": "auto_annotate", "params": {
                 "detector": "x", "class_labels": {"1": [2]}}}),
             400, "`class_labels`"),
        Case("job-export-format-a-list", M, "post", JOBS,
             json_body({"kind": "export", "params": {"format": ["coco"]}}), 400, "`format`"),
        Case("job-export-mask-mode-unknown", M, "post", JOBS,
             json_body({"kind": "export", "params": {"format": "masks", "mask_mode": "x"}}),
             400, "`mask_mode`"),
        Case("job-export-status-not-a-list", M, "post", JOBS,
             json_body({"kind": "export", "params": {"format": "coco", "status": 5}}),
             400, "status"),
        Case("job-image-ids-strings", M, "post", JOBS,
             json_body({"kind": "export", "params": {"image_ids": ["1; DROP TABLE"]}}),
             400, "image_ids"),
    ]  # fmt: skip


def _number_cases() -> list[Case]:
    # Ids past the database's 64-bit integers reached queries as pk__in or filters: a 500.
    huge = 10**30
    nothing: Callable[[World], dict[str, Any]] = lambda w: {}  # noqa: E731
    return [
        Case("list-filter-assignee-10**30", A, "get", IMAGES + f"?assignee={huge}",
             nothing, 400, "less than or equal to"),
        Case("next-image-after-10**30", A, "get", "/api/projects/{project}/next-image"
             f"?after={huge}", nothing, 400, "less than or equal to"),
        Case("bulk-delete-10**30", A, "post", "/api/annotations/bulk",
             json_body(lambda w: {"image": w.image.pk, "delete": [huge]}),
             400, "less than or equal to"),
        Case("bulk-image-10**30", A, "post", "/api/annotations/bulk",
             json_body({"image": huge, "create": []}), 400, "less than or equal to"),
        Case("update-version-10**30", A, "patch", ANNOTATION,
             json_body({"version": huge, "label": huge}), 400, "less than or equal to"),
        Case("job-image-ids-10**30", M, "post", JOBS,
             json_body({"kind": "export", "params": {"image_ids": [huge]}}), 400, "image_ids"),
    ]  # fmt: skip


def _project_cases() -> list[Case]:
    return [
        Case("project-description-of-a-megabyte", OWNER, "post", PROJECTS,
             json_body({"name": "p", "description": "d" * (1024 * 1024)}),
             400, "no more than 100000 characters"),
        Case("project-with-2001-labels", OWNER, "post", PROJECTS,
             json_body({"name": "p", "labels": [{"name": f"l{i}"} for i in range(2001)]}),
             400, "no more than 2000"),
        Case("project-label-colour-not-hex", OWNER, "post", PROJECTS,
             json_body({"name": "p", "labels": [{"name": "a"}, {"name": "b", "color": "red"}]}),
             400, "#rrggbb"),
        Case("project-update-description-of-a-megabyte", OWNER, "patch", "/api/projects/{project}/",
             json_body({"description": "d" * (1024 * 1024)}), 400, "no more than 100000"),
    ]  # fmt: skip


def _checkpoint_cases() -> list[Case]:
    # The one place an API caller names a checkpoint: a project's sam_checkpoint. The workers
    # would load whatever file it names; only names the server offers are accepted.
    return [
        Case("checkpoint-a-planted-pickle", OWNER, "post", PROJECTS,
             json_body({"name": "p", "sam_checkpoint": "/tmp/evil.pth"}), 400, "Unknown checkpoint"),
        Case("checkpoint-etc-shadow", OWNER, "post", PROJECTS,
             json_body({"name": "p", "sam_checkpoint": "/etc/shadow"}), 400, "Unknown checkpoint"),
        Case("checkpoint-relative-escape", OWNER, "post", PROJECTS,
             json_body({"name": "p", "sam_checkpoint": "../../var/media/images/x.png"}),
             400, "Unknown checkpoint"),
        Case("checkpoint-a-url", OWNER, "post", PROJECTS,
             json_body({"name": "p", "sam_checkpoint": "http://evil.example/sam.pth"}),
             400, "Unknown checkpoint"),
    ]  # fmt: skip


# --- harden2: names longer than a file system allows (Hardening, round two, class 1) ----------
# 300 ASCII characters, and 100 characters of three bytes each: both are 300 bytes in UTF-8,
# over images.MAX_NAME_BYTES (255), on every route and format where a name meets a path.
LONG_NAMES = {"ascii-300": "a" * 300, "multibyte-100": "\u6f22" * 100}


def upload_raw(name: str, data: bytes) -> Callable[[World], dict[str, Any]]:
    """An upload whose name is sent as is: SimpleUploadedFile would cut it to 255 characters
    on the client's side, as Django does on the server's."""

    def send(world: World) -> dict[str, Any]:
        file = io.BytesIO(data)
        file.name = name
        return {"data": {"files": [file]}, "format": "multipart"}

    return send


def _long_name_cases() -> list[Case]:
    png, cases = _photo(seed=31), []
    mask = _encode(PILImage.fromarray(np.ones((HEIGHT, WIDTH), np.uint8), "L"), "PNG")
    for tag, stem in LONG_NAMES.items():

        def masks_doc(file_name: str, mask_name: str) -> bytes:
            doc = {
                "mode": "instance",
                "labels": ["cat"],
                "images": [
                    {
                        "file_name": file_name,
                        "mask": mask_name,
                        "width": WIDTH,
                        "height": HEIGHT,
                        "instances": [{"id": 1, "label": "cat"}],
                    }
                ],
            }
            return json_bytes(doc)

        cases += [
            Case(
                f"upload-name-{tag}",
                M,
                "post",
                IMAGES,
                upload_raw(stem + ".png", png),
                400,
                "bytes in UTF-8",
            ),
            # Over FILE_UPLOAD_MAX_MEMORY_SIZE the upload is spooled to a temporary file,
            # which Django names after the client's extension.
            Case(
                f"upload-extension-{tag}-spooled",
                M,
                "post",
                IMAGES,
                upload_raw("x." + stem, png),
                400,
                "bytes in UTF-8",
                {"FILE_UPLOAD_MAX_MEMORY_SIZE": 100},
            ),
            Case(
                f"zip-entry-{tag}",
                M,
                "post",
                IMAGES,
                upload(("z.zip", zip_of({"ok.png": _photo(seed=32), stem + ".png": png}))),
                400,
                "bytes in UTF-8",
            ),
            Case(
                f"coco-file-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file(
                    "coco",
                    json_bytes(
                        coco(
                            images=[
                                {
                                    "id": 1,
                                    "file_name": stem + ".png",
                                    "width": WIDTH,
                                    "height": HEIGHT,
                                }
                            ]
                        )
                    ),
                    "c.json",
                ),
                400,
                "neither in the project nor in the archive",
            ),
            Case(
                f"coco-zip-json-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file("coco", zip_of({stem + ".json": json_bytes(coco())})),
                400,
                "cannot be extracted",
            ),
            Case(
                f"yolo-label-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file(
                    "yolo_seg",
                    zip_of(
                        {
                            "data.yaml": b"names: [cat]",
                            f"labels/{stem}.txt": b"0 0.1 0.1 0.5 0.1 0.5 0.5\n",
                        }
                    ),
                ),
                400,
                "cannot be extracted",
            ),
            Case(
                f"yolo-image-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file(
                    "yolo_seg",
                    zip_of(
                        {
                            "data.yaml": b"names: [cat]",
                            "labels/a.txt": b"0 0.1 0.1 0.5 0.1 0.5 0.5\n",
                            f"images/{stem}.png": png,
                        }
                    ),
                ),
                400,
                "bytes in UTF-8",
            ),
            Case(
                f"yolo-boxes-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file("yolo_boxes", zip_of({stem + ".txt": b"0 0.5 0.5 0.2 0.2\n"})),
                400,
                "cannot be extracted",
            ),
            Case(
                f"masks-mask-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file(
                    "masks",
                    zip_of(
                        {
                            "labels.json": masks_doc("a.png", f"masks/{stem}.png"),
                            "masks/a.png": mask,
                        }
                    ),
                ),
                400,
                "not a file",
            ),
            Case(
                f"masks-file-name-{tag}",
                M,
                "post",
                IMPORTS,
                import_file(
                    "masks",
                    zip_of(
                        {
                            "labels.json": masks_doc(stem + ".png", "masks/a.png"),
                            "masks/a.png": mask,
                        }
                    ),
                ),
                400,
                "neither in the project nor in the archive",
            ),
        ]
    return cases  # fmt: skip


# --- end harden2 class 1 -------------------------------------------------------------------------


# --- harden2: imports go through the API's limits (Hardening, round two, class 3) -------------


def _coco_categories(names: list[str]) -> bytes:
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(names)]
    return json_bytes(coco(categories=categories))


def _import_limit_cases() -> list[Case]:
    return [
        # The project has cat and dog: 1999 new names would make 2001 labels.
        Case("coco-labels-past-the-project-cap", M, "post", IMPORTS,
             import_file("coco", _coco_categories(["cat"] + [f"l{i}" for i in range(1999)]),
                         "c.json"), 400, "no more than 2000 labels"),
        Case("coco-16000-categories", M, "post", IMPORTS,
             import_file("coco", _coco_categories([f"l{i}" for i in range(16_000)]), "c.json"),
             400, "no more than 2000 labels"),
        Case("masks-labels-past-the-project-cap", M, "post", IMPORTS,
             import_file("masks", zip_of({"labels.json": json_bytes({
                 "mode": "instance", "labels": ["cat"] + [f"l{i}" for i in range(1999)],
                 "images": []})})), 400, "no more than 2000 labels"),
        Case("yolo-labels-past-the-project-cap", M, "post", IMPORTS,
             import_file("yolo_seg", zip_of({
                 "data.yaml": ("names: [" + ", ".join(f"l{i}" for i in range(1999)) + "]").encode(),
                 "labels/a.txt": b"0 0.1 0.1 0.5 0.1 0.5 0.5\n"})),
             400, "no more than 2000 labels"),
        Case("coco-label-name-of-101-characters", M, "post", IMPORTS,
             import_file("coco", _coco_categories(["x" * 101]), "c.json"), 400, "over 100"),
        Case("coco-blank-label-name", M, "post", IMPORTS,
             import_file("coco", _coco_categories(["   "]), "c.json"), 400, "needs a name"),
        Case("masks-label-is-a-list", M, "post", IMPORTS,
             import_file("masks", masks_zip([{"id": 1, "label": ["cat"]}])), 400, "not in labels"),
    ]  # fmt: skip


# --- end harden2 class 3 -------------------------------------------------------------------------


# --- Hardening, round two (4, 5): policies and quotas ----------------------------------------------
# Who may spend the shared machines (403 for a policy, 413 for what a project stores, 400 for a
# job that asks too much) and who may be added to a project (one answer for "nobody has that
# name" and "someone you may not see"). More in tests/security/test_policy_quotas.py.

MEMBERS = "/api/projects/{project}/members/"


def _policy_cases() -> list[Case]:
    zip_of_three = _zip_of(("one.png", _photo(seed=11)), ("two.png", _photo(seed=12)),
                           ("three.png", _photo(seed=13)))  # fmt: skip
    everything = {"kind": "everything"}
    return [
        Case("policy-only-staff-create-projects", OWNER, "post", PROJECTS,
             json_body({"name": "p"}), 403, "Only staff", {"PROJECT_CREATORS": "staff"}),
        Case("policy-the-heaviest-checkpoint", OWNER, "post", PROJECTS,
             json_body({"name": "p", "sam_checkpoint": "sam_vit_h"}), 403, "not offered"),
        Case("policy-a-checkpoint-left-out", OWNER, "post", PROJECTS,
             json_body({"name": "p", "sam_checkpoint": "sam_vit_b"}), 403, "not offered",
             {"SAM_CHECKPOINTS_OFFERED": []}),
        Case("quota-project-images", M, "post", IMAGES, upload(("new.png", _photo(seed=7))),
             413, "QUOTA_PROJECT_IMAGES", {"QUOTA_PROJECT_IMAGES": 1}),
        Case("quota-project-images-a-zip-passing-it", M, "post", IMAGES,
             upload(("three.zip", zip_of_three)), 413, "QUOTA_PROJECT_IMAGES",
             {"QUOTA_PROJECT_IMAGES": 3}),
        Case("quota-project-bytes", M, "post", IMAGES, upload(("new.png", _photo(seed=7))),
             413, "QUOTA_PROJECT_BYTES", {"QUOTA_PROJECT_BYTES": 1000}),
        Case("job-everything-the-heaviest-parameters", M, "post", JOBS,
             json_body(lambda w: {**everything, "params": {"label": w.label.pk,
                                  "points_per_side": 128, "crop_n_layers": 3}}),
             400, "JOB_MAX_EVERYTHING_PROMPTS"),
        Case("job-auto-annotate-unbounded-inline-boxes", M, "post", JOBS,
             json_body(lambda w: {"kind": "auto_annotate", "params": {
                 "label": w.label.pk, "boxes": {str(w.image.pk): [[1, 1, 20, 20]] * 6}}}),
             400, "JOB_MAX_INLINE_BOXES", {"JOB_MAX_INLINE_BOXES": 5}),
        Case("member-by-id-is-for-staff", OWNER, "post", MEMBERS,
             json_body({"user": 1, "role": "viewer"}), 400, "for staff"),
        Case("member-by-an-id-past-64-bits", OWNER, "post", MEMBERS,
             json_body({"user": 2**64, "role": "viewer"}), 400, "user"),
        Case("member-a-name-nobody-has", OWNER, "post", MEMBERS,
             json_body({"username": "nobody", "role": "viewer"}), 400, "No user you can add"),
        Case("member-by-name-and-id-at-once", OWNER, "post", MEMBERS,
             json_body({"username": "viewer", "user": 1, "role": "viewer"}), 400, "one of"),
    ]  # fmt: skip


def _zip_of(*entries: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


CASES = (
    _long_name_cases()
    + _import_limit_cases()
    + _upload_cases()
    + _import_cases()
    + _geometry_cases()
    + _prompt_cases()
    + _number_cases()
    + _project_cases()
    + _checkpoint_cases()
    + _policy_cases()
)


# --- Running a case ------------------------------------------------------------------------------


@pytest.fixture
def world(project_with_roles: dict[str, Any]) -> World:
    project = project_with_roles["project"]
    image = factories.image(project, data=factories.png_bytes(WIDTH, HEIGHT, seed=99), name="a.png")
    annotation = factories.annotation(image)
    # No embedding row: a request that wrongly got as far as the embedding would create one.
    Embedding.objects.all().delete()
    return World(project, image, annotation, project.labels.get(name="cat"))


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp dir of its own, so a zip extraction left behind would show."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


STORED = [Project, Membership, Label, Image, Annotation, Embedding, Job, SamModel]


def _files(root: Path) -> set[str]:
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )


def _snapshot(media_root: Path, scratch: Path) -> dict[str, Any]:
    return {
        **{model.__name__: model.objects.count() for model in STORED},
        "annotations": list(
            Annotation.objects.order_by("id").values_list("id", "version", "polygons")
        ),
        "media": _files(media_root),
        "scratch": _files(scratch) | {str(p) for p in scratch.iterdir()},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_refused_and_nothing_is_stored(
    case: Case,
    world: World,
    project_with_roles: dict[str, Any],
    client_for: Any,
    media_root: Path,
    scratch: Path,
    settings: Any,
    no_broker: list,
) -> None:
    for name, value in case.settings.items():
        setattr(settings, name, value)
    client = client_for(project_with_roles[case.role])
    client.raise_request_exception = False  # a 500 must show as a status, not an exception
    url = case.url.format(project=world.project.pk, image=world.image.pk,
                          annotation=world.annotation.pk)  # fmt: skip
    before = _snapshot(media_root, scratch)
    no_broker.clear()

    response = getattr(client, case.method)(url, **case.send(world))

    assert response.status_code == case.status, (case.id, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.strip(), response.json()
    assert case.detail.lower() in detail.lower(), detail
    assert _snapshot(media_root, scratch) == before
    assert no_broker == []  # no task enqueued either


@pytest.mark.django_db
def test_a_page_limit_past_64_bits_is_capped_not_sent_to_the_database(
    world: World, project_with_roles: dict[str, Any], client_for: Any
) -> None:
    client = client_for(project_with_roles["viewer"])
    client.raise_request_exception = False
    response = client.get(f"/api/projects/{world.project.pk}/images/?limit={10**30}")
    assert response.status_code == 200, response.content[:300]
    assert [image["id"] for image in response.json()["results"]] == [world.image.pk]


# --- A checkpoint that is a malicious pickle -----------------------------------------------------


class _CreatesAFileWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _evil_checkpoints(folder: Path, marker: Path) -> list[Path]:
    """The two pickle containers torch.load reads: the zip format and the legacy raw pickle."""
    import torch

    zipped, legacy = folder / "evil.pth", folder / "evil_legacy.pth"
    torch.save({"model": _CreatesAFileWhenUnpickled(marker)}, zipped)
    legacy.write_bytes(pickle.dumps({"model": _CreatesAFileWhenUnpickled(marker)}, protocol=2))
    # The payload really does run when unpickled the unsafe way: the test is not vacuous.
    pickle.loads(legacy.read_bytes())
    assert marker.exists()
    marker.unlink()
    return [zipped, legacy]


def test_the_checkpoint_names_offered_to_api_callers_are_the_known_ones() -> None:
    from annotator.api.serializers import KNOWN_CHECKPOINT_NAMES
    from annotator.sam import KNOWN_CHECKPOINTS
    from annotator.sam2 import SAM2_CHECKPOINTS

    # SAM 2: Meta's files; Ultralytics' aliases are for auto_annotate's scripts only.
    sam2 = {name for name, entry in SAM2_CHECKPOINTS.items() if entry.family == "meta"}
    assert set(KNOWN_CHECKPOINT_NAMES) == set(KNOWN_CHECKPOINTS) | sam2


def test_annotator_sam_refuses_a_malicious_pickle_without_running_it(tmp_path: Path) -> None:
    from annotator.sam import CheckpointError, build_sam

    marker = tmp_path / "pwned"
    for path in _evil_checkpoints(tmp_path, marker):
        with pytest.raises(CheckpointError, match="refused to load"):
            build_sam(path)
        assert not marker.exists()


@pytest.mark.django_db
def test_a_malicious_checkpoint_registered_in_the_admin_fails_the_embedding_without_running(
    project_with_roles: dict[str, Any], client_for: Any, tmp_path: Path, settings: Any
) -> None:
    """An administrator registers a checkpoint path in the admin (the only way to name a file);
    a project uses it; the worker refuses the pickle, the row fails with the reason, and the
    API answers 409 with it. The payload never runs."""
    from annotator import services

    marker = tmp_path / "pwned"
    settings.EMBEDDING_MAX_ATTEMPTS = 1
    from django.test import Client

    staff = Client()
    staff.force_login(factories.user("root", is_staff=True, is_superuser=True))
    for path in _evil_checkpoints(tmp_path, marker):
        response = staff.post(
            "/admin/annotator/sammodel/add/",
            {"checkpoint": str(path), "model_type": "auto", "sha256": "", "onnx_status": "pending",
             "onnx_error": ""},
        )  # fmt: skip
        assert response.status_code == 302 and "login" not in response["Location"], response
        model = SamModel.objects.get(checkpoint=str(path))
        # The owner may now choose it by its registered path: the admin made that decision.
        owner = client_for(project_with_roles["owner"])
        created = owner.post("/api/projects/", {"name": path.name, "sam_checkpoint": str(path)},
                             format="json")  # fmt: skip
        assert created.status_code == 201, created.json()
        project = Project.objects.get(pk=created.json()["id"])
        assert project.sam_model_id == model.pk
        image = factories.image(project, data=factories.png_bytes(32, 24), name="x.png")
        row = Embedding.objects.get(image=image)

        services.embedding_compute(embedding_ids=[row.pk])

        row.refresh_from_db()
        assert row.status == Embedding.Status.FAILED
        assert "refused to load" in row.error
        assert not marker.exists()
        answer = owner.get(f"/api/images/{image.pk}/embedding")
        assert answer.status_code == 409 and "refused to load" in answer.json()["detail"]


def test_the_auto_annotate_command_refuses_a_malicious_checkpoint_without_running_it(
    tmp_path: Path,
) -> None:
    """The command line names checkpoints by path (`--sam-model`): the same loader refuses it."""
    from django.core.management import CommandError, call_command

    marker = tmp_path / "pwned"
    images, boxes = tmp_path / "images", tmp_path / "boxes"
    images.mkdir()
    boxes.mkdir()
    (images / "a.png").write_bytes(factories.png_bytes(WIDTH, HEIGHT, seed=5))
    (boxes / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    for path in _evil_checkpoints(tmp_path, marker):
        with pytest.raises(CommandError, match="auto-annotation failed"):
            call_command(
                "auto_annotate",
                data=[str(images)],
                det_model=str(boxes),
                sam_model=str(path),
                output_dir=str(tmp_path / "out"),
            )
        assert not marker.exists()
