"""OnnxDetector on a real (tiny, synthetic) ONNX graph with the YOLOv8/11 output layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from annotator.autoannotate.detectors import DetectorError, OnnxDetector, letterbox, nms

# Five anchors, two classes, (cx, cy, w, h) in the 64x64 network input, then class scores.
ANCHORS = np.array(
    [
        [20, 30, 10, 10, 0.9, 0.1],  # class 0, best
        [21, 30, 10, 10, 0.8, 0.0],  # class 0, overlaps the first: suppressed by NMS
        [21, 30, 10, 10, 0.0, 0.7],  # class 1 on the same spot: kept (class-aware NMS)
        [50, 40, 8, 6, 0.2, 0.1],  # below conf
        [50, 40, 8, 4, 0.0, 0.3],  # class 1, kept
    ],
    dtype=np.float32,
)


def yolo_like_onnx(
    path: Path, output: np.ndarray, names: str | None = "{0: 'cat', 1: 'dog'}"
) -> Path:
    """A graph whose output is a fixed tensor (plus 0 x the input, so the input is used)."""
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["fixed", "nothing"], ["output0"]),
    ]
    initializers = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor(
            "fixed", TensorProto.FLOAT, list(output.shape), output.flatten().tolist()
        ),
    ]
    graph = helper.make_graph(nodes, "yolo_like", [image], [out], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return yolo_like_onnx(tmp_path / "yolo.onnx", ANCHORS.T[None].copy())


def test_decode_applies_conf_class_aware_nms_and_undoes_the_letterbox(model_path: Path) -> None:
    detector = OnnxDetector(model_path)
    assert detector.names == ["cat", "dog"]
    assert detector.input_size == (64, 64)
    # A 32x64 image fills the width at ratio 1 and is padded by 16 rows above and below.
    detections = detector.detect(np.zeros((32, 64, 3), np.uint8))
    assert [(d.class_id, round(d.score, 3)) for d in detections] == [(0, 0.9), (1, 0.7), (1, 0.3)]
    assert [d.box_xyxy for d in detections] == [
        pytest.approx((15, 9, 25, 19)),
        pytest.approx((16, 9, 26, 19)),
        pytest.approx((46, 22, 54, 26)),
    ]


def test_boxes_are_scaled_back_to_the_original_resolution(model_path: Path) -> None:
    # 50x100 -> ratio 0.64, resized to 32x64, same padding.
    [first, *_] = OnnxDetector(model_path).detect(np.zeros((50, 100, 3), np.uint8))
    assert first.box_xyxy == pytest.approx((15 / 0.64, 9 / 0.64, 25 / 0.64, 19 / 0.64))


def test_classes_max_det_and_iou_options(model_path: Path) -> None:
    image = np.zeros((32, 64, 3), np.uint8)
    only_dogs = OnnxDetector(model_path, classes=[1]).detect(image)
    assert [d.class_id for d in only_dogs] == [1, 1]
    assert len(OnnxDetector(model_path, max_det=1).detect(image)) == 1
    assert len(OnnxDetector(model_path, iou=0.95).detect(image)) == 4
    assert OnnxDetector(model_path, conf=0.95).detect(image) == []


def test_a_file_that_is_not_an_onnx_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "yolo11n.onnx"
    bad.write_text("this is not a model")
    with pytest.raises(DetectorError, match="is not a valid ONNX model"):
        OnnxDetector(bad)
    with pytest.raises(DetectorError, match="does not exist"):
        OnnxDetector(tmp_path / "missing.onnx")


def test_letterbox_matches_ultralytics_padding() -> None:
    image = np.full((30, 40, 3), 7, np.uint8)
    padded, ratio, (left, top) = letterbox(image, (64, 64))
    assert padded.shape == (64, 64, 3) and ratio == 1.6 and (left, top) == (0.0, 8.0)
    assert padded[0, 0, 0] == 114 and padded[32, 32, 0] == 7


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.1]), 0.5).tolist() == [1, 2]
