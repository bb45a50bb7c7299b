"""SAM 2 / 2.1 image mode in pure PyTorch, state-dict compatible with Meta's checkpoints.

No Django imports. Image mode only: the video memory modules of a checkpoint are loaded (so
files load strictly) but never run.
"""

from .automatic import SAM2AutomaticMaskGenerator
from .build import MODEL_REGISTRY, Sam2Config, build_sam2, construct_sam2, infer_sam2_config
from .checkpoints import SAM2_CHECKPOINTS, CheckpointError, CheckpointUnavailable
from .model import SAM2Image
from .predictor import SAM2ImagePredictor

__all__ = [
    "MODEL_REGISTRY",
    "SAM2_CHECKPOINTS",
    "CheckpointError",
    "CheckpointUnavailable",
    "SAM2AutomaticMaskGenerator",
    "SAM2Image",
    "SAM2ImagePredictor",
    "Sam2Config",
    "build_sam2",
    "construct_sam2",
    "infer_sam2_config",
]
