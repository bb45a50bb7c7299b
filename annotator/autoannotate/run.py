"""``auto_annotate``: detector boxes prompt SAM; one YOLO-seg label file per image.

Same signature and output as ``ultralytics.data.annotator.auto_annotate``, plus ``overwrite``,
``batch_size``, ``return_masks`` and ``text`` (phrases, the keyword of Ultralytics' SAM 3
predictor). Imports torch, so only workers and CLIs import this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from annotator.autoannotate.detectors import Detection, Detector, build_detector
from annotator.autoannotate.text import build_text_segmenter, segment_phrases
from annotator.geometry import mask_to_polygons
from annotator.sam.sam import Sam
from annotator.sam2 import SAM2Image
from annotator.segmenters import Segmenter, load_segmenter, segmenter_for
from annotator.text import TextSegmenter, check_phrases

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
# Ultralytics' checkpoint names, for scripts written against ultralytics.auto_annotate.
SAM_ALIASES = {"sam_b.pt": "sam_vit_b", "sam_l.pt": "sam_vit_l", "mobile_sam.pt": "mobile_sam"}
# Ultralytics' SAM 2.1 and 2.0 names stand for Meta's files (the same weights; Meta's come with
# digests to check): ``SAM("sam2.1_b.pt")`` scripts keep their names.
SAM_ALIASES |= {
    f"{short}_{letter}.pt": f"{meta}_hiera_{size}.pt"
    for short, meta in (("sam2.1", "sam2.1"), ("sam2", "sam2"))
    for letter, size in (("t", "tiny"), ("s", "small"), ("b", "base_plus"), ("l", "large"))
}
# Stems of images where the detector found nothing: they get no label file (as in
# Ultralytics), so this hidden list is what lets a resumed run skip them too.
EMPTY_LIST = ".auto_annotate_empty"
# Half-pixel Douglas-Peucker keeps the polygon's rasterisation equal to the mask in practice
# (geometry.mask_to_polygons) with far fewer points than the raw staircase.
POLYGON_TOLERANCE = 0.5

Masks = dict[Path, tuple[list[Detection], np.ndarray]]


def list_images(data: str | Path | Sequence[str | Path]) -> list[Path]:
    """Images of ``data``: a folder (its image files, not recursive), one file, or a list."""
    items = [data] if isinstance(data, str | Path) else list(data)
    images: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            images += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            images.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return images


def default_output_dir(data: str | Path | Sequence[str | Path], images: list[Path]) -> Path:
    """Ultralytics' default: ``<data>_auto_annotate_labels`` beside ``data`` (a folder or a file);
    for a list, beside the first image's folder."""
    if isinstance(data, str | Path):
        source = Path(data).resolve()
    else:
        source = (images[0].parent if images else Path(".")).resolve()
    return source.parent / f"{source.stem}_auto_annotate_labels"


def resolve_device(device: str) -> torch.device:
    """Ultralytics-style device: "" (CUDA when available), "cpu", "cuda", "cuda:1" or "0"."""
    if device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.isdigit():
        return torch.device(f"cuda:{device}")
    return torch.device(device)


def use_batched_encoder(segmenter: Segmenter) -> bool:
    """Encode several images per call (``Segmenter.features``) only on CUDA: on CPU a batch is
    no faster than one image at a time and holds batch_size activations in memory."""
    return segmenter.device.type == "cuda"


def read_rgb(path: Path) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, or None when the file cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def yolo_seg_line(class_id: int, mask: np.ndarray) -> str | None:
    """``class x1 y1 ...`` of the mask's largest polygon normalised to [0, 1]; None if empty.

    Like Ultralytics (``masks.xyn``) one polygon per object, the largest part; holes are not
    representable in YOLO-seg.
    """
    polygons = mask_to_polygons(mask, tolerance=POLYGON_TOLERANCE)
    if not polygons:
        return None
    outer = max(polygons, key=lambda p: _area(p["outer"]))["outer"]
    h, w = mask.shape
    coords = " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in outer)
    return f"{class_id} {coords}"


def _area(ring: list[list[float]]) -> float:
    pts = np.asarray(ring)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _write_atomic(path: Path, text: str) -> None:
    # A run killed mid-write must not leave a truncated file that a resumed run would skip.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def auto_annotate(
    data: str | Path | Sequence[str | Path],
    det_model: str | Path | Detector | TextSegmenter = "yolo11x.pt",
    sam_model: str | Path | Sam | SAM2Image = "sam_vit_b",
    device: str = "",
    conf: float = 0.25,
    iou: float = 0.45,
    imgsz: int = 640,
    max_det: int = 300,
    classes: list[int] | None = None,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    batch_size: int = 8,
    return_masks: bool = False,
    text: Sequence[str] | None = None,
) -> Masks | None:
    """Annotate images with a detector and SAM, writing YOLO-seg labels (Ultralytics' format).

    Arguments:
      data: a folder of images, one image file, or a list of them.
      det_model: ``*.pt`` / a name -> Ultralytics YOLO (optional, AGPL); ``*.onnx`` -> a YOLO
        exported to ONNX; ``*.json`` (COCO boxes) or a folder of YOLO ``<stem>.txt`` boxes ->
        no model; or a ``Detector`` object. With ``text``: a text model (below) or a
        ``TextSegmenter`` object.
      sam_model: SAM checkpoint path or name (``sam_vit_b``, ``mobile_sam``,
        ``sam2.1_hiera_tiny.pt``...; Ultralytics' ``sam_b.pt`` and ``sam2.1_b.pt`` are accepted),
        or a built ``Sam`` or ``SAM2Image``.
      device: "" (CUDA when available), "cpu", "cuda", "cuda:N" or "N".
      conf, iou, imgsz, max_det, classes: detector settings (score threshold, NMS IoU, input
        size, boxes per image, class ids to keep).
      output_dir: default ``<data>_auto_annotate_labels`` beside ``data``.
      overwrite: redo images whose label file exists (otherwise they are skipped, so an
        interrupted run resumes where it stopped).
      batch_size: images per encoder call on CUDA (``Segmenter.features``); on CPU images are encoded
        one at a time, which is as fast and uses less memory.
      return_masks: also return ``{image path: (detections, (N, H, W) bool masks)}`` for the
        images processed in this run.
      text: phrases to find ("cup", "red mug") instead of a detector's classes: the keyword
        Ultralytics' SAM 3 predictor takes (``SAM3SemanticPredictor(...)(text=[...])``). The
        class id of each label is the index of its phrase in ``text``, and ``classes`` selects
        phrase indices. ``det_model`` then names the text model, a model id in the local
        Hugging Face cache or a folder (never downloaded): SAM 3 gives the masks itself
        (``sam_model`` is not loaded); OWLv2 or Grounding DINO give boxes that prompt
        ``sam_model``. The default ``yolo11x.pt`` means the default text detector (OWLv2).
        ``conf`` is the score threshold, ``iou`` the per-phrase NMS IoU; ``imgsz`` is unused.

    Output: ``<output_dir>/<stem>.txt`` with one line per object, ``class x1 y1 x2 y2 ...``, the
    largest polygon of its mask in pixel-corner coordinates divided by the image width/height.
    Images with no detections get no file. All boxes of an image go to SAM in one batched call.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    # Checked before any model loads, so a bad phrase fails at once.
    phrases = check_phrases(text) if text is not None else []
    images = list_images(data)
    out = Path(output_dir) if output_dir is not None else default_output_dir(data, images)
    out.mkdir(parents=True, exist_ok=True)
    empty_path = out / EMPTY_LIST
    empty = (
        set() if overwrite or not empty_path.is_file() else set(empty_path.read_text().split("\n"))
    )
    todo = [
        p for p in images if overwrite or not ((out / f"{p.stem}.txt").exists() or p.stem in empty)
    ]
    if len(todo) < len(images):
        logger.info(
            "auto_annotate: %d of %d images already done", len(images) - len(todo), len(images)
        )
    if overwrite and empty_path.exists():
        empty_path.unlink()
    if not todo:
        return {} if return_masks else None

    torch_device = resolve_device(device)

    def load_segmenter_once() -> Segmenter:
        if isinstance(sam_model, Sam | SAM2Image):
            return segmenter_for(sam_model)
        name = str(sam_model)
        name = name if Path(name).is_file() else SAM_ALIASES.get(name, name)
        return load_segmenter(name, device=str(torch_device)).segmenter

    def load_sam() -> Sam:
        model: Sam = load_segmenter_once().model
        return model

    segmenter: TextSegmenter | None = None
    detector: Detector | None = None
    predictor: Any = None
    sam_segmenter: Segmenter | None = None
    if text is not None:
        segmenter = build_text_segmenter(
            det_model,  # type: ignore[arg-type]  # a Detector object is refused there
            sam=load_sam, device=str(torch_device), conf=conf, iou=iou, max_det=max_det,
        )  # fmt: skip
        batched = False
    elif isinstance(det_model, TextSegmenter):
        raise ValueError("a text model finds phrases: pass them as text=[...]")
    else:
        detector = build_detector(
            det_model, conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, classes=classes,
            device=device,
        )  # fmt: skip
        sam_segmenter = load_segmenter_once()
        predictor = sam_segmenter.predictor()
        batched = use_batched_encoder(sam_segmenter)
    results: Masks = {}
    with tqdm(total=len(todo), desc="auto_annotate", unit="img") as bar:
        for chunk in _chunks(todo, batch_size if batched else 1):
            found: list[tuple[Path, np.ndarray, list[Detection], np.ndarray | None]] = []
            for path in chunk:
                image = read_rgb(path)
                if image is None:
                    logger.warning("auto_annotate: cannot read %s, skipped", path)
                    bar.update(1)
                    continue
                text_masks = None
                if segmenter is not None:
                    detections, text_masks = segment_phrases(
                        segmenter, image, phrases, classes=classes, max_det=max_det
                    )
                else:
                    assert detector is not None
                    detections = detector.detect(image, name=path.name)
                if not detections:
                    with empty_path.open("a") as f:
                        f.write(path.stem + "\n")
                    bar.update(1)
                    continue
                found.append((path, image, detections, text_masks))
            features = (
                sam_segmenter.features([image for _, image, _, _ in found], batch_size=len(found))
                if sam_segmenter is not None and batched and found
                else None
            )
            for i, (path, image, detections, text_masks) in enumerate(found):
                if text_masks is not None:
                    masks = text_masks
                else:
                    assert predictor is not None and sam_segmenter is not None
                    if features is not None:
                        sam_segmenter.set_features(predictor, features[i], image.shape[:2])
                    else:
                        predictor.set_image(image)
                    boxes = np.array([d.box_xyxy for d in detections], dtype=np.float32)
                    masks = sam_segmenter.segment_boxes(predictor, boxes)
                lines = [
                    line
                    for d, mask in zip(detections, masks, strict=True)
                    if (line := yolo_seg_line(d.class_id, mask)) is not None
                ]
                _write_atomic(out / f"{path.stem}.txt", "".join(line + "\n" for line in lines))
                if return_masks:
                    results[path] = (detections, masks)
                bar.update(1)
    return results if return_masks else None
