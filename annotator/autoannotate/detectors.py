"""Object detectors whose boxes prompt SAM: Ultralytics, any YOLO exported to ONNX, box files.

All of them return ``Detection`` boxes as XYXY in original image pixels. None of them imports
torch; Ultralytics (AGPL-3.0) is imported only when ``UltralyticsDetector`` is built, so it is
never a hard dependency of this Apache-2.0 project.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from annotator.formats.coco import read_coco
from annotator.formats.dataset import FormatError
from annotator.formats.yolo import read_yolo_boxes


class DetectorError(ValueError):
    """A detector that cannot be built from what was given (not a model, wrong layout...)."""


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
      box_xyxy: (x0, y0, x1, y1) in original image pixels.
      class_id: index into the detector's class names.
      score: confidence in [0, 1].
    """

    box_xyxy: tuple[float, float, float, float]
    class_id: int
    score: float


@runtime_checkable
class Detector(Protocol):
    """Anything that finds boxes in an image.

    ``name`` is the image's file name; model detectors ignore it, file-based ones
    (``BoxFileDetector``) look their boxes up by its stem.
    """

    def detect(self, image: np.ndarray, name: str | None = None) -> list[Detection]:
        """Arguments: image (H, W, 3) uint8 RGB. Returns: detections, best first."""
        ...


def _keep(
    detections: list[Detection], conf: float, classes: Sequence[int] | None, max_det: int
) -> list[Detection]:
    wanted = None if classes is None else set(classes)
    kept = [d for d in detections if d.score >= conf and (wanted is None or d.class_id in wanted)]
    return sorted(kept, key=lambda d: -d.score)[:max_det]


# --- Ultralytics ---------------------------------------------------------------------------------


class UltralyticsDetector:
    """An Ultralytics YOLO model (``yolo11x.pt``, a path to your own ``best.pt``, ...).

    Ultralytics is AGPL-3.0 and optional: ``pip install sam-annotator[ultralytics]``.
    """

    def __init__(
        self,
        model: str | Path = "yolo11x.pt",
        conf: float = 0.25,
        iou: float = 0.45,
        imgsz: int = 640,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        device: str = "",
    ) -> None:
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ImportError(
                f"det_model={str(model)!r} needs the Ultralytics package, which is not installed: "
                "pip install sam-annotator[ultralytics] (Ultralytics is AGPL-3.0 licensed). "
                "Alternatively export the detector to ONNX (det_model='model.onnx') or pass "
                "boxes from a COCO JSON file or a folder of YOLO .txt files."
            ) from exc
        self.model = YOLO(str(model))
        self.names: list[str] = [self.model.names[k] for k in sorted(self.model.names)]
        self.options: dict[str, Any] = {
            "conf": conf,
            "iou": iou,
            "imgsz": imgsz,
            "max_det": max_det,
            "classes": list(classes) if classes is not None else None,
            "device": device or None,
            "verbose": False,
        }

    def detect(self, image: np.ndarray, name: str | None = None) -> list[Detection]:
        # Ultralytics takes numpy images as BGR (OpenCV order).
        result = self.model.predict(np.ascontiguousarray(image[..., ::-1]), **self.options)[0]
        xyxy = result.boxes.xyxy.cpu().numpy().astype(float)
        cls = result.boxes.cls.cpu().numpy().astype(int)
        scores = result.boxes.conf.cpu().numpy().astype(float)
        return [
            Detection((b[0], b[1], b[2], b[3]), int(c), float(s))
            for b, c, s in zip(xyxy.tolist(), cls, scores, strict=True)
        ]


# --- ONNX ----------------------------------------------------------------------------------------


def letterbox(
    image: np.ndarray, size: tuple[int, int], color: int = 114
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to ``size`` (Ultralytics' ``LetterBox``, centred).

    Arguments:
      image: (H, W, 3) uint8.
      size: (height, width) of the network input.

    Returns:
      The (height, width, 3) uint8 image, the scale ratio, and the (left, top) padding in pixels,
      so that ``network_xy = original_xy * ratio + (left, top)``.
    """
    h, w = image.shape[:2]
    ratio = min(size[0] / h, size[1] / w)
    new_w, new_h = round(w * ratio), round(h * ratio)
    dw, dh = (size[1] - new_w) / 2, (size[0] - new_h) / 2
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # Same rounding as Ultralytics so boxes land on the same pixels.
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color, color, color)
    )
    return padded, ratio, (float(left), float(top))


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Arguments:
      boxes: (N, 4) float XYXY; scores: (N,).
      iou_threshold: a box overlapping a better one by more than this is dropped.

    Returns:
      (K,) int64 indices of the kept boxes, best first.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(
        boxes[:, 3] - boxes[:, 1], 0, None
    )
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class OnnxDetector:
    """A YOLOv8/YOLO11 detector exported to ONNX (``yolo export format=onnx``), run by onnxruntime.

    Expects one image input (1, 3, H, W) float32 RGB in [0, 1] and one output (1, 4 + nc, A):
    per anchor ``cx, cy, w, h`` in input pixels then ``nc`` class scores (already sigmoid), the
    layout Ultralytics exports. Decoding follows Ultralytics' ``non_max_suppression``: best class
    per anchor, ``score > conf``, class-aware NMS at ``iou``, at most ``max_det`` boxes.
    """

    # Boxes of different classes are shifted this far apart so one NMS pass is class-aware
    # (Ultralytics' max_wh).
    _CLASS_OFFSET = 7680.0
    _MAX_NMS = 30000

    def __init__(
        self,
        path: str | Path,
        conf: float = 0.25,
        iou: float = 0.45,
        imgsz: int = 640,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise DetectorError(f"detector model {str(path)!r} does not exist")
        try:
            self.session = ort.InferenceSession(
                str(path), providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(
                f"{path} is not a valid ONNX model ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DetectorError(f"{path}: expected one (1, 3, H, W) image input, got {inputs}")
        self.input_name = inputs[0].name
        h, w = inputs[0].shape[2:]
        self.input_size = (
            h if isinstance(h, int) else imgsz,
            w if isinstance(w, int) else imgsz,
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = self._names(meta.get("names"))
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.classes = None if classes is None else list(classes)
        if len(outputs[0].shape) != 3:
            raise DetectorError(
                f"{path}: expected a (1, 4 + nc, anchors) output, got {outputs[0].shape}"
            )

    @staticmethod
    def _names(raw: str | None) -> list[str] | None:
        # Ultralytics stores names as the repr of a dict: "{0: 'person', 1: 'bicycle'}".
        if not raw:
            return None
        try:
            names = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        return [str(n) for n in names] if isinstance(names, list) else None

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        """(H, W, 3) uint8 RGB -> (1, 3, h, w) float32 in [0, 1], ratio, (left, top) padding."""
        padded, ratio, pad = letterbox(image, self.input_size)
        blob = padded.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return np.ascontiguousarray(blob), ratio, pad

    def decode(
        self, output: np.ndarray, ratio: float, pad: tuple[float, float], shape: tuple[int, int]
    ) -> list[Detection]:
        """(1, 4 + nc, A) raw output -> detections in original pixels (see class doc)."""
        if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] < 5:
            raise DetectorError(f"expected a (1, 4 + nc, anchors) output, got {output.shape}")
        nc = output.shape[1] - 4
        if (
            self.names is not None
            and len(self.names) != nc
            and output.shape[2] == len(self.names) + 4
        ):
            output = output.transpose(0, 2, 1)  # (1, A, 4 + nc) exports
            nc = len(self.names)
        preds = output[0].T.astype(np.float64)  # (A, 4 + nc)
        scores_all = preds[:, 4:]
        class_ids = scores_all.argmax(axis=1)
        scores = scores_all[np.arange(len(preds)), class_ids]
        keep = scores > self.conf
        if self.classes is not None:
            keep &= np.isin(class_ids, self.classes)
        preds, scores, class_ids = preds[keep], scores[keep], class_ids[keep]
        if not len(preds):
            return []
        top = np.argsort(-scores, kind="stable")[: self._MAX_NMS]
        preds, scores, class_ids = preds[top], scores[top], class_ids[top]
        cx, cy, w, h = preds[:, 0], preds[:, 1], preds[:, 2], preds[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kept = nms(boxes + (class_ids * self._CLASS_OFFSET)[:, None], scores, self.iou)
        kept = kept[: self.max_det]
        boxes = (boxes[kept] - np.array([pad[0], pad[1], pad[0], pad[1]])) / ratio
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, shape[1])
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, shape[0])
        return [
            Detection((b[0], b[1], b[2], b[3]), int(c), float(s))
            for b, c, s in zip(boxes.tolist(), class_ids[kept], scores[kept], strict=True)
        ]

    def detect(self, image: np.ndarray, name: str | None = None) -> list[Detection]:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
        blob, ratio, pad = self.preprocess(image)
        (output, *_) = self.session.run(None, {self.input_name: blob})
        return self.decode(np.asarray(output), ratio, pad, (image.shape[0], image.shape[1]))


# --- Box files -----------------------------------------------------------------------------------


class BoxFileDetector:
    """Boxes read from files, looked up by image stem: no model at all.

    Arguments:
      source: a COCO JSON file (its ``bbox`` per annotation, class id = index of the category
        in id order, score = the annotation's ``score`` or 1), or a folder of YOLO detection
        ``<stem>.txt`` files (``class cx cy w h [conf]`` normalised).
      conf, classes, max_det: the same filters as the model detectors.
    """

    def __init__(
        self,
        source: str | Path,
        conf: float = 0.0,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
    ) -> None:
        self.source = Path(source)
        self.conf, self.max_det, self.classes = conf, max_det, classes
        self.names: list[str] | None = None
        self.by_stem: dict[str, list[Detection]] | None = None
        if self.source.is_dir():
            return
        if not self.source.is_file():
            raise DetectorError(f"box file {str(self.source)!r} does not exist")
        try:
            dataset = read_coco(self.source)
        except FormatError as exc:
            raise DetectorError(f"{self.source} is not a usable COCO box file: {exc}") from None
        self.names = dataset.labels
        index = dataset.label_index()
        self.by_stem = {}
        for image in dataset.images:
            detections = []
            for ann in image.annotations:
                x, y, w, h = ann.box(image.height, image.width)
                score = 1.0 if ann.score is None else ann.score
                detections.append(Detection((x, y, x + w, y + h), index[ann.label], score))
            self.by_stem.setdefault(Path(image.file_name).stem, []).extend(detections)

    def detect(self, image: np.ndarray, name: str | None = None) -> list[Detection]:
        if name is None:
            raise ValueError("BoxFileDetector needs the image's file name to find its boxes")
        stem = Path(name).stem
        if self.by_stem is not None:
            found = self.by_stem.get(stem, [])
        else:
            path = self.source / f"{stem}.txt"
            if not path.is_file():
                return []
            try:
                rows = read_yolo_boxes(path, width=image.shape[1], height=image.shape[0])
            except FormatError as exc:
                raise DetectorError(f"{path}: {exc}") from None
            found = [Detection((b[0], b[1], b[2], b[3]), c, s) for c, b, s in rows]
        return _keep(
            [d for d in found if all(map(math.isfinite, d.box_xyxy))],
            self.conf,
            self.classes,
            self.max_det,
        )


def build_detector(
    det_model: str | Path | Detector,
    *,
    conf: float = 0.25,
    iou: float = 0.45,
    imgsz: int = 640,
    max_det: int = 300,
    classes: Sequence[int] | None = None,
    device: str = "",
) -> Detector:
    """Pick the detector for ``det_model``: a ``Detector`` as is, ``.onnx`` -> ``OnnxDetector``,
    ``.json`` or a folder -> ``BoxFileDetector``, anything else (``yolo11x.pt``) -> Ultralytics.
    """
    if isinstance(det_model, Detector):
        return det_model
    path = Path(det_model)
    if path.suffix.lower() == ".onnx":
        return OnnxDetector(path, conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, classes=classes)
    if path.suffix.lower() == ".json" or path.is_dir():
        return BoxFileDetector(path, conf=conf, max_det=max_det, classes=classes)
    return UltralyticsDetector(
        det_model, conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, classes=classes, device=device
    )
