"""The checks of a job's `params` (free-form JSON from the API), by kind: refused with a 400
when the job is created rather than failing later in a worker."""

from __future__ import annotations

import math
from typing import Any

from annotator.models import Image, Job, Project
from annotator.services.errors import Invalid
from annotator.services.everything import (
    EVERYTHING_BOUNDS,
    EVERYTHING_BOUNDS_ANNOTATOR,
    EVERYTHING_DEFAULTS,
)
from annotator.services.exports import EXPORT_WRITERS
from annotator.services.offers import detector_names
from annotator.services.quotas import everything_cost_check, inline_boxes_check
from annotator.services.text_prompts import text_params_check


def job_params_check(
    *, project: Project, kind: str, params: dict[str, Any], limited: bool = False
) -> None:
    """Refuse (Invalid) params the job's kind cannot run with; may fill in defaults (an
    export's format) and derive `image_ids` (auto-annotation's inline boxes). `limited`: an
    annotator's everything job, held to EVERYTHING_BOUNDS_ANNOTATOR."""
    # `params` is free-form JSON: each value is type-checked before it meets a set, a dict or a
    # query (a list as `format` or `label` raised TypeError or ValueError there: a 500).
    check_types(params)
    if kind == Job.Kind.EXPORT:
        fmt = params.setdefault("format", "coco")
        if fmt not in EXPORT_WRITERS:
            raise Invalid(f"Unknown export format {fmt!r}; one of {', '.join(EXPORT_WRITERS)}.")
    check_selection_params(params)
    if kind == Job.Kind.EVERYTHING:
        # Optional: the label its proposals suggest; the labeler chooses one when keeping.
        label = params.get("label")
        if label is not None and not project.labels.filter(pk=label).exists():
            raise Invalid("`label` is not a label of this project.")
        check_everything_params(
            params, bounds=EVERYTHING_BOUNDS_ANNOTATOR if limited else EVERYTHING_BOUNDS
        )
    if kind == Job.Kind.AUTO_ANNOTATE:
        check_auto_annotate_params(project=project, params=params)
    if kind == Job.Kind.TEXT:
        text_params_check(project=project, params=params)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PARAM_TYPES: dict[str, tuple[str, Any]] = {
    "format": ("a format name", lambda v: isinstance(v, str)),
    "label": ("a label id", _is_int),
    "detector": ("a detector name", lambda v: isinstance(v, str)),
    "mask_mode": ("instance or semantic", lambda v: v in ("instance", "semantic")),
    "rle": ("true or false", lambda v: isinstance(v, bool)),
    "include_images": ("true or false", lambda v: isinstance(v, bool)),
    "keep_above": (
        "a number from 0 to 1 (proposals scoring at least that are kept at once)",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1,
    ),
    "conf": (
        "a number from 0 to 1",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1,
    ),
    # The detector's own filters (annotator/autoannotate/detectors.py), as Ultralytics names
    # them: an IoU for its NMS, the input size, which class ids to keep, how many boxes.
    "iou": (
        "a number from 0 to 1",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1,
    ),
    "imgsz": ("an integer from 32 to 4096", lambda v: _is_int(v) and 32 <= v <= 4096),
    "max_det": ("an integer from 1 to 10000", lambda v: _is_int(v) and 1 <= v <= 10_000),
    "classes": (
        "a list of class ids",
        lambda v: (
            isinstance(v, list)
            and len(v) <= 10_000
            and all(_is_int(c) and 0 <= c < 2**31 for c in v)
        ),
    ),
    "box_classes": (
        "an object mapping image ids to the class id of each box",
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(c, list) and all(_is_int(i) for i in c) for c in v.values())
        ),
    ),
    "class_labels": (
        "an object mapping class ids to label ids",
        lambda v: (
            isinstance(v, dict) and all(str(k).isdigit() and _is_int(i) for k, i in v.items())
        ),
    ),
}


def check_types(params: dict[str, Any]) -> None:
    for key, (what, ok) in _PARAM_TYPES.items():
        if params.get(key) is not None and not ok(params[key]):
            raise Invalid(f"`{key}` must be {what}, got {params[key]!r:.80}.")


def check_selection_params(params: dict[str, Any]) -> None:
    """`status` and `image_ids` narrow every job's images; refused here rather than failing
    the job in a worker."""
    status = params.get("status")
    if status is not None and (
        not isinstance(status, list) or not all(v in Image.Status.values for v in status)
    ):
        raise Invalid(f"`status` is a list of image statuses ({', '.join(Image.Status.values)}).")
    ids = params.get("image_ids")
    if ids is not None and (
        not isinstance(ids, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in ids)
    ):
        raise Invalid("`image_ids` is a list of image ids.")


def check_everything_params(
    params: dict[str, Any], *, bounds: dict[str, tuple[type, float, float]] = EVERYTHING_BOUNDS
) -> None:
    for key, (kind, low, high) in bounds.items():
        if key not in params:
            continue
        value = params[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            not number
            or (kind is int and not isinstance(value, int))
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            what = "an integer" if kind is int else "a number"
            raise Invalid(f"`{key}` must be {what} from {low:g} to {high:g}, got {value!r}.")
    everything_cost_check(params=params, defaults=EVERYTHING_DEFAULTS)


def check_auto_annotate_params(*, project: Project, params: dict[str, Any]) -> None:
    """Auto-annotation prompts SAM with boxes: given inline (`boxes`: {image id: [[x0, y0, x1,
    y1], ...]}, labelled `label`) or found by a configured detector (`detector`: a name from
    AUTO_ANNOTATE_DETECTORS, `class_labels`: {class id: label id}, `label` for the rest)."""
    label_ids = set(project.labels.values_list("pk", flat=True))
    if params.get("label") is not None and params["label"] not in label_ids:
        raise Invalid("`label` is not a label of this project.")
    boxes, detector = params.get("boxes"), params.get("detector")
    if (boxes is None) == (detector is None):
        raise Invalid("Auto-annotation needs exactly one of `boxes` or `detector`.")
    if detector is not None:
        names = detector_names()
        if detector not in names:
            offered = ", ".join(names) or "none configured"
            raise Invalid(f"Unknown detector {detector!r} (available: {offered}).")
        class_labels = params.get("class_labels", {})
        if not isinstance(class_labels, dict) or not set(class_labels.values()) <= label_ids:
            raise Invalid("`class_labels` maps class ids to label ids of this project.")
        if params.get("label") is None and not class_labels:
            raise Invalid("Give `label` or `class_labels` so detections get a label.")
        return
    class_labels = params.get("class_labels", {})
    if not set(class_labels.values()) <= label_ids:
        raise Invalid("`class_labels` maps class ids to label ids of this project.")
    if params.get("label") is None and not class_labels:
        raise Invalid("Inline `boxes` need `label` (or `box_classes` with `class_labels`).")
    if not isinstance(boxes, dict):
        raise Invalid("`boxes` maps image ids to lists of [x0, y0, x1, y1].")
    box_classes = params.get("box_classes", {})
    if any(len(box_classes[k]) != len(boxes.get(k, [])) for k in box_classes):
        raise Invalid("`box_classes` gives one class id per box of `boxes`, image by image.")
    inline_boxes_check(boxes=boxes)
    sizes = {pk: (w, h) for pk, w, h in project.images.values_list("pk", "width", "height")}
    for key, items in boxes.items():
        if not str(key).isdigit() or int(key) not in sizes:
            raise Invalid(f"`boxes`: image {key!r} is not in this project.")
        width, height = sizes[int(key)]
        if not isinstance(items, list) or not all(_is_box(item, width, height) for item in items):
            raise Invalid(
                f"`boxes[{key}]`: each box is [x0, y0, x1, y1] of finite numbers with x0 < x1 "
                f"and y0 < y1, on the {width}x{height} image."
            )
    params["image_ids"] = sorted(int(key) for key in boxes)


def _is_box(item: Any, width: int, height: int) -> bool:
    """A prompt box: four finite numbers, with area, on the image (a box far off the image is a
    coordinate mix-up, and one with no area prompts nothing)."""
    # OpenCV and pycocotools come with annotator.geometry: loaded at the first box checked.
    from annotator.geometry import box_on_image

    if not (
        isinstance(item, list)
        and len(item) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
        and all(math.isfinite(v) for v in item)
    ):
        return False
    x0, y0, x1, y1 = item
    return x0 < x1 and y0 < y1 and box_on_image(x0, y0, x1, y1, width, height)
