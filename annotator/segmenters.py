"""One interface over the model families the product runs: SAM 1 (ViT-B/L/H, MobileSAM) and
SAM 2 / 2.1 (Hiera). Workers, everything mode and auto-annotation call a `Segmenter` and never
ask which family they hold; a new family is one more class here.

What differs between families, and so lives here: how a checkpoint name resolves, how images are
encoded and stored (SAM 1: one (256, 64, 64) embedding in `export_onnx.wire`, 1 MB; SAM 2: the
embedding plus two high-resolution maps in `export_onnx.wire2`, at most 2.5 MB; it still reads
the version 1 files stored before), how stored features are put back into a predictor, the
predictor and automatic mask generator classes, and the hover atlas's decode. Both predictors
share Meta's `predict(point_coords, point_labels, box, mask_input, multimask_output)`.

Imports torch: only workers and CLIs import this module (no Django here).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from annotator.sam import SamAutomaticMaskGenerator, SamPredictor, build_sam, embed_images
from annotator.sam.atlas import HoverAtlas, compute_atlases
from annotator.sam.checkpoints import CheckpointUnavailable, load_state_dict, resolve_checkpoint
from annotator.sam.predictor import segment_boxes
from annotator.sam2 import SAM2AutomaticMaskGenerator, SAM2Image, SAM2ImagePredictor
from annotator.sam2.atlas import compute_atlases as compute_sam2_atlases
from annotator.sam2.build import sam2_from_state_dict
from annotator.sam2.checkpoints import is_sam2_name, resolve_sam2_checkpoint
from export_onnx import wire, wire2

SAM2_FEATURES = ("image_embed", "high_res_feats_0", "high_res_feats_1")


class Segmenter:
    """A loaded model and what the product does with it.

    Attributes:
      family: "sam1" or "sam2", as the decoder export's manifest says (`model.family`).
      wire_dtype: `Embedding.dtype` of what `embed` stores.
      wire_shape: `Embedding.shape` (the image embedding's (C, H, W)).
    """

    family: ClassVar[str]
    wire_dtype: ClassVar[str]
    wire_shape: ClassVar[tuple[int, int, int]] = (256, 64, 64)

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def device(self) -> torch.device:
        return torch.device(self.model.device)

    def predictor(self) -> Any:
        """A fresh predictor with Meta's `set_image` / `predict` API."""
        raise NotImplementedError

    def generator(self, **options: Any) -> Any:
        """Meta's automatic mask generator with binary masks; `options` are its keywords."""
        raise NotImplementedError

    def features(self, images: Sequence[np.ndarray], *, batch_size: int) -> list[Any]:
        """Encode HWC uint8 RGB images, `batch_size` per encoder call (float32), into one
        in-memory feature object per image, for `set_features` or `encode`."""
        raise NotImplementedError

    def set_features(self, predictor: Any, features: Any, original_size: tuple[int, int]) -> None:
        """Put one image's features into `predictor`, as if `set_image` had run."""
        raise NotImplementedError

    def encode(self, features: Any, *, model_key: bytes, original_size: tuple[int, int]) -> bytes:
        """One image's features in the family's wire format."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """Features back from the wire format (up to its rounding)."""
        raise NotImplementedError

    def embed(
        self, images: Sequence[np.ndarray], *, batch_size: int, model_key: bytes
    ) -> list[bytes]:
        """Encode images into their wire bytes, each carrying `model_key` and its size."""
        return [
            self.encode(f, model_key=model_key, original_size=(image.shape[0], image.shape[1]))
            for f, image in zip(self.features(images, batch_size=batch_size), images, strict=True)
        ]

    def set_wire(self, predictor: Any, data: bytes, original_size: tuple[int, int]) -> None:
        """Put stored wire bytes into `predictor`."""
        self.set_features(predictor, self.decode(data), original_size)

    def segment_boxes(self, predictor: Any, boxes: np.ndarray) -> np.ndarray:
        """(N, H, W) bool single-mask answers for (N, 4) XYXY boxes of the predictor's image,
        in one decoder call."""
        raise NotImplementedError

    def atlases(
        self, features: Sequence[Any], sizes: Sequence[tuple[int, int]], *, grid: int,
        mask_size: int,
    ) -> list[HoverAtlas]:  # fmt: skip
        """The hover atlases (the page's hover mask for each cell of a `grid`) of images
        whose features (`features` or `decode`) are given, with their (H, W) sizes."""
        raise NotImplementedError


class Sam1Segmenter(Segmenter):
    family = "sam1"
    wire_dtype = "uint8_affine"

    def predictor(self) -> SamPredictor:
        return SamPredictor(self.model)

    def generator(self, **options: Any) -> SamAutomaticMaskGenerator:
        return SamAutomaticMaskGenerator(self.model, output_mode="binary_mask", **options)

    def features(self, images: Sequence[np.ndarray], *, batch_size: int) -> list[Any]:
        embeddings = embed_images(self.model, images, batch_size=batch_size)
        assert isinstance(embeddings, torch.Tensor)
        return [embeddings[i : i + 1] for i in range(len(images))]

    def set_features(self, predictor: Any, features: Any, original_size: tuple[int, int]) -> None:
        predictor.set_image_embedding(features, original_size)

    def encode(self, features: Any, *, model_key: bytes, original_size: tuple[int, int]) -> bytes:
        array = torch.as_tensor(features).float().cpu().numpy()
        return wire.encode_embedding(array, model_key=model_key, original_size=original_size)

    def decode(self, data: bytes) -> Any:
        return wire.decode_embedding(data)[0]

    def segment_boxes(self, predictor: Any, boxes: np.ndarray) -> np.ndarray:
        return segment_boxes(predictor, boxes)

    def atlases(
        self, features: Sequence[Any], sizes: Sequence[tuple[int, int]], *, grid: int,
        mask_size: int,
    ) -> list[HoverAtlas]:  # fmt: skip
        # One tensor: the points of several images share decoder calls (the CUDA batch).
        embeddings = torch.cat([torch.as_tensor(f) for f in features]).to(self.device)
        return compute_atlases(self.model, embeddings, sizes, grid=grid, mask_size=mask_size)


class Sam2Segmenter(Segmenter):
    family = "sam2"
    wire_dtype = "sam2_codebook"

    def predictor(self) -> SAM2ImagePredictor:
        return SAM2ImagePredictor(self.model)

    def generator(self, **options: Any) -> SAM2AutomaticMaskGenerator:
        return SAM2AutomaticMaskGenerator(self.model, output_mode="binary_mask", **options)

    @torch.inference_mode()
    def features(self, images: Sequence[np.ndarray], *, batch_size: int) -> list[Any]:
        # float32 throughout: under bfloat16 autocast even Meta's reference drifts to a mean
        # mask IoU of 0.967 on the parity pack (issue 18), and the wire format costs its own.
        predictor = SAM2ImagePredictor(self.model)
        out: list[Any] = []
        for start in range(0, len(images), batch_size):
            predictor.set_image_batch([np.asarray(im) for im in images[start : start + batch_size]])
            maps = predictor._features
            assert maps is not None
            tensors = [maps["image_embed"], *maps["high_res_feats"]]
            for i in range(tensors[0].shape[0]):
                out.append(
                    {name: t[i : i + 1] for name, t in zip(SAM2_FEATURES, tensors, strict=True)}
                )
        return out

    def set_features(self, predictor: Any, features: Any, original_size: tuple[int, int]) -> None:
        predictor.set_image_features(features, original_size)

    def encode(self, features: Any, *, model_key: bytes, original_size: tuple[int, int]) -> bytes:
        arrays = {
            name: torch.as_tensor(features[name]).float().cpu().numpy() for name in SAM2_FEATURES
        }
        return wire2.encode_features(arrays, model_key=model_key, original_size=original_size)

    def decode(self, data: bytes) -> Any:
        return wire2.decode_features(data)

    def segment_boxes(self, predictor: Any, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            h, w = predictor._orig_hw[0]
            return np.zeros((0, h, w), dtype=bool)
        masks, _, _ = predictor.predict(box=np.asarray(boxes, np.float32), multimask_output=False)
        masks = np.asarray(masks)
        return masks.reshape(len(boxes), -1, *masks.shape[-2:])[:, 0].astype(bool)

    def atlases(
        self, features: Sequence[Any], sizes: Sequence[tuple[int, int]], *, grid: int,
        mask_size: int,
    ) -> list[HoverAtlas]:  # fmt: skip
        return compute_sam2_atlases(
            self.model, list(features), sizes, grid=grid, mask_size=mask_size
        )


@dataclass(frozen=True)
class Loaded:
    segmenter: Segmenter
    path: Path


def resolve_any(checkpoint: str | os.PathLike[str], *, download: bool) -> Path:
    """The file of a checkpoint path or a known name of either family (SAM 1's names such as
    ``sam_vit_b``, SAM 2's file names such as ``sam2.1_hiera_tiny.pt``), downloaded and checked
    when missing if `download`. Raises `CheckpointUnavailable`."""
    if is_sam2_name(checkpoint) and not Path(checkpoint).is_file():
        return resolve_sam2_checkpoint(checkpoint, download=download)
    return resolve_checkpoint(checkpoint, download=download)


def is_sam2_state_dict(keys: Any) -> bool:
    """SAM 2 checkpoints name their heads ``sam_mask_decoder.*``; SAM 1 ones ``mask_decoder.*``
    (as `export_onnx.sam2.is_sam2_state_dict`, which this module does not import: it pulls in
    onnx and onnxruntime)."""
    return any(str(k).startswith("sam_mask_decoder.") for k in keys)


def load_segmenter(
    checkpoint: str | os.PathLike[str],
    *,
    model_type: str = "auto",
    device: str | None = None,
    download: bool = True,
) -> Loaded:
    """Load a checkpoint of either family, told apart by its state dict's keys (so a SAM 2
    file under any name or path works).

    Arguments:
      checkpoint: a path or a known name (`resolve_any`).
      model_type: SAM 1's registry name or "auto"; SAM 2 reads its size off the weights.
      device: where to put the model (default: CUDA when available, else CPU).
      download: fetch a known file that is missing.
    Raises:
      `CheckpointUnavailable` (missing file), `CheckpointError` (not a loadable checkpoint).
    """
    path = resolve_any(checkpoint, download=download)
    state = load_state_dict(path)
    if is_sam2_state_dict(state):
        model = sam2_from_state_dict(state, source=str(path))
        target = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return Loaded(Sam2Segmenter(model.to(target)), path)
    # SAM 1's builder reads the file itself; the state dict read here to tell the family is
    # dropped first so that a ViT-H is not held twice.
    del state
    return Loaded(Sam1Segmenter(build_sam(path, model_type=model_type, device=device)), path)


def segmenter_for(model: Any) -> Segmenter:
    """The segmenter of an already built model (auto_annotate takes built models too)."""
    return Sam2Segmenter(model) if isinstance(model, SAM2Image) else Sam1Segmenter(model)


__all__ = [
    "CheckpointUnavailable",
    "Loaded",
    "Sam1Segmenter",
    "Sam2Segmenter",
    "Segmenter",
    "load_segmenter",
    "resolve_any",
    "segmenter_for",
]
