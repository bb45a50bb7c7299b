"""Segment Anything (SAM, MobileSAM) in pure PyTorch, state-dict compatible with the official
checkpoints. No Django imports: usable from workers, CLIs and tests on its own."""

from .automatic import SamAutomaticMaskGenerator
from .build import (
    KNOWN_CHECKPOINTS,
    MODEL_REGISTRY,
    CheckpointError,
    CheckpointUnavailable,
    build_sam,
    checkpoint_sha256,
    infer_model_config,
    resolve_checkpoint,
)
from .predictor import SamPredictor, embed_images
from .sam import Sam

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
