"""The Ultralytics adapter (against a stand-in module: Ultralytics is an optional AGPL extra),
box files, and how det_model picks a detector."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from annotator.autoannotate.detectors import (
    BoxFileDetector,
    Detection,
    DetectorError,
    UltralyticsDetector,
    build_detector,
)

# pycocotools' Cython decode trips a numpy 2 DeprecationWarning (copy=False) on every call.


class FakeYOLO:
    """What the adapter uses of ultralytics.YOLO: names, predict() -> results with .boxes."""

    last: FakeYOLO

    def __init__(self, model: str) -> None:
        self.model_path = model
        self.names = {0: "person", 1: "car"}
        self.calls: list[tuple[np.ndarray, dict[str, Any]]] = []
        FakeYOLO.last = self

    def predict(self, source: np.ndarray, **kwargs: Any) -> list[Any]:
        self.calls.append((source, kwargs))
        boxes = types.SimpleNamespace(
            xyxy=torch.tensor([[1.0, 2.0, 30.0, 40.0], [5.0, 6.0, 7.0, 8.0]]),
            cls=torch.tensor([1.0, 0.0]),
            conf=torch.tensor([0.9, 0.4]),
        )
        return [types.SimpleNamespace(boxes=boxes)]


@pytest.fixture
def fake_ultralytics(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("ultralytics")
    module.YOLO = FakeYOLO  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ultralytics", module)


@pytest.mark.usefixtures("fake_ultralytics")
def test_ultralytics_detector_passes_bgr_and_the_options_and_converts_boxes() -> None:
    detector = build_detector("yolo11n.pt", conf=0.3, iou=0.5, imgsz=320, max_det=7, classes=[0, 1])
    assert isinstance(detector, UltralyticsDetector)
    assert detector.names == ["person", "car"]
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 0] = 255  # red in RGB
    detections = detector.detect(image)
    source, options = FakeYOLO.last.calls[0]
    assert source[0, 0].tolist() == [0, 0, 255], "Ultralytics reads numpy images as BGR"
    assert options == {
        "conf": 0.3, "iou": 0.5, "imgsz": 320, "max_det": 7, "classes": [0, 1],
        "device": None, "verbose": False,
    }  # fmt: skip
    assert detections == [
        Detection((1.0, 2.0, 30.0, 40.0), 1, pytest.approx(0.9)),
        Detection((5.0, 6.0, 7.0, 8.0), 0, pytest.approx(0.4)),
    ]


def test_missing_ultralytics_explains_the_optional_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    with pytest.raises(ImportError, match=r"pip install sam-annotator\[ultralytics\]"):
        UltralyticsDetector("yolo11x.pt")


def test_det_model_picks_the_detector_by_suffix(tmp_path: Path) -> None:
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    assert isinstance(build_detector(boxes), BoxFileDetector)
    with pytest.raises(DetectorError, match="box file .* does not exist"):
        build_detector(tmp_path / "missing.json")
    with pytest.raises(DetectorError, match="does not exist"):
        build_detector(tmp_path / "missing.onnx")
    custom = BoxFileDetector(boxes)
    assert build_detector(custom) is custom


def test_yolo_box_folder_needs_the_image_name_and_reports_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.5 0.5 0.2 0.2 0.1\n")
    (tmp_path / "bad.txt").write_text("0 0.5 0.5\n")
    detector = BoxFileDetector(tmp_path, conf=0.2)
    image = np.zeros((100, 200, 3), np.uint8)
    assert detector.detect(image, name="a.jpg") == [Detection((50.0, 25.0, 150.0, 75.0), 0, 1.0)]
    assert detector.detect(image, name="unknown.jpg") == []
    with pytest.raises(ValueError, match="needs the image's file name"):
        detector.detect(image)
    with pytest.raises(DetectorError, match="bad.txt"):
        detector.detect(image, name="bad.png")
