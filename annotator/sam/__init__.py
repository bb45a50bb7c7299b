"""Segment Anything (SAM, MobileSAM) in pure PyTorch, state-dict compatible with the official
checkpoints. No Django imports: usable from workers, CLIs and tests on its own.

The names below are imported on first use, so that importing this package (or its torch-free
modules `digests` and `checkpoints`, as the web process does through `export_onnx.runtime`)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .automatic import SamAutomaticMaskGenerator
    from .build import MODEL_REGISTRY, build_sam
    from .checkpoints import (
        KNOWN_CHECKPOINTS,
        CheckpointError,
        CheckpointUnavailable,
        checkpoint_sha256,
        resolve_checkpoint,
    )
    from .config import infer_model_config
    from .predictor import SamPredictor, embed_images
    from .sam import Sam

# Public name -> the module that defines it.
_EXPORTS = {
    "KNOWN_CHECKPOINTS": "checkpoints",
    "MODEL_REGISTRY": "build",
    "CheckpointError": "checkpoints",
    "CheckpointUnavailable": "checkpoints",
    "Sam": "sam",
    "SamAutomaticMaskGenerator": "automatic",
    "SamPredictor": "predictor",
    "build_sam": "build",
    "checkpoint_sha256": "checkpoints",
    "embed_images": "predictor",
    "infer_model_config": "config",
    "resolve_checkpoint": "checkpoints",
}

__all__ = [
    "KNOWN_CHECKPOINTS",
    "MODEL_REGISTRY",
    "CheckpointError",
    "CheckpointUnavailable",
    "Sam",
    "SamAutomaticMaskGenerator",
    "SamPredictor",
    "build_sam",
    "checkpoint_sha256",
    "embed_images",
    "infer_model_config",
    "resolve_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
