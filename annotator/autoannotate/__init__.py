"""Auto-annotation: detector boxes prompt SAM, labels written as YOLO-seg (Ultralytics-compatible).

``auto_annotate`` is resolved lazily (module ``__getattr__``) so that importing this package, or
``annotator.autoannotate.detectors``, never imports torch; only calling it does.
"""

from __future__ import annotations

from typing import Any

from annotator.autoannotate.detectors import (
    BoxFileDetector,
    Detection,
    Detector,
    DetectorError,
    OnnxDetector,
    UltralyticsDetector,
)

__all__ = [
    "BoxFileDetector",
    "Detection",
    "Detector",
    "DetectorError",
    "OnnxDetector",
    "UltralyticsDetector",
    "auto_annotate",
]


def __getattr__(name: str) -> Any:
    if name == "auto_annotate":
        from annotator.autoannotate.run import auto_annotate

        return auto_annotate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
