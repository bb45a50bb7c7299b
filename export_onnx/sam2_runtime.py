"""Decoding SAM 2.1 masks with the exported graphs, without torch (numpy + onnxruntime).

`Sam2OnnxDecoder.predict` returns what ``SAM2ImagePredictor.predict`` returns for the same
prompts: the same prompt building (per-axis scaling, box corners first, padding point always),
the same postprocessing (bilinear straight to (h, w), low-res clamped afterwards). The page does
the same in `frontend/src/decoder/sam2.js`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from . import wire2
from .runtime import _bilinear_matrix, load_manifest

IMG_SIZE = 1024
LOW_RES = 256
LOW_RES_CLAMP = 32.0
MASK_THRESHOLD = 0.0


def sam2_prompt_tensors(
    point_coords: Any, point_labels: Any, box: Any, orig_size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """``point_coords`` (1, N, 2) and ``point_labels`` (1, N) float32 as the graphs take them.

    Arguments:
        point_coords: (K, 2) XY in original pixels or None; point_labels (K,) 1/0.
        box: (4,) XYXY in original pixels (corners in either order) or None.
        orig_size: (h, w) of the image.
    """
    h, w = orig_size
    coords: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    if box is not None:
        b = np.asarray(box, np.float64).reshape(2, 2)
        coords.append(np.stack([b.min(axis=0), b.max(axis=0)]))
        labels.append(np.array([2.0, 3.0]))
    if point_coords is not None:
        pc = np.asarray(point_coords, np.float64).reshape(-1, 2)
        pl = np.asarray(point_labels, np.float64).reshape(-1)
        if pl.shape[0] != pc.shape[0] or not np.isin(pl, (0, 1)).all():
            raise ValueError("point_labels must be one 1 (foreground) or 0 (background) per point")
        coords.append(pc)
        labels.append(pl)
    if not coords:
        raise ValueError("give at least one point or a box")
    xy = np.concatenate(coords).astype(np.float32)
    if not np.isfinite(xy).all():
        raise ValueError("prompt coordinates must be finite")
    # Per axis, in float32 as the reference: the resize stretches the image to a square.
    scaled = (xy / np.array([w, h], np.float32) * np.float32(IMG_SIZE)).astype(np.float32)
    xy = np.concatenate([scaled, np.zeros((1, 2), np.float32)])  # the padding point, always
    lab = np.concatenate([*labels, [-1.0]]).astype(np.float32)
    return {"point_coords": xy[None], "point_labels": lab[None]}


def upsample_sam2(low_res: np.ndarray, orig_size: tuple[int, int]) -> np.ndarray:
    """(C, 256, 256) unclamped logits -> (C, h, w), PyTorch's bilinear, align_corners=False."""
    ry = _bilinear_matrix(LOW_RES, orig_size[0]).astype(np.float32)
    rx = _bilinear_matrix(LOW_RES, orig_size[1]).astype(np.float32)
    return np.einsum("hy,cyx,wx->chw", ry, low_res.astype(np.float32), rx, optimize=True)


class Sam2OnnxDecoder:
    """The fast path of a SAM 2.1 export: ``prepare.onnx`` per image, ``decode.onnx`` per prompt.

    Arguments:
        export_dir: a directory written by `export_onnx.sam2.run_export_sam2`.
        check_files: verify the files' sha256 against the manifest.
        threads: onnxruntime intra-op threads (0 = its default).
    """

    def __init__(
        self, export_dir: str | Path, *, threads: int = 0, check_files: bool = True
    ) -> None:
        self.export_dir = Path(export_dir)
        self.manifest = load_manifest(self.export_dir, check_files=check_files)
        if self.manifest["model"].get("family") != "sam2":
            raise ValueError(f"{export_dir} is not a SAM 2 export")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        graphs = self.manifest["graphs"]
        self.sessions = {
            name: ort.InferenceSession(
                str(self.export_dir / graphs[name]["file"]), options, ["CPUExecutionProvider"]
            )
            for name in ("prepare", "decode")
        }

    def prepare(
        self, features: dict[str, np.ndarray], mask_input: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Per-image tensors from float32 features (``image_embed``, ``high_res_feats_0/1``,
        e.g. `export_onnx.wire2.decode_features`), with an optional (1, 256, 256) mask input."""
        mask = np.zeros((1, 1, LOW_RES, LOW_RES), np.float32)
        if mask_input is not None:
            mask = np.asarray(mask_input, np.float32).reshape(1, 1, LOW_RES, LOW_RES)
        feeds = {
            k: np.asarray(features[k], np.float32)
            for k in ("image_embed", "high_res_feats_0", "high_res_feats_1")
        }
        feeds["mask_input"] = mask
        feeds["has_mask_input"] = np.array([0.0 if mask_input is None else 1.0], np.float32)
        session = self.sessions["prepare"]
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))

    def predict(
        self,
        prepared: dict[str, np.ndarray],
        *,
        orig_size: tuple[int, int],
        point_coords: Any = None,
        point_labels: Any = None,
        box: Any = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mask logits (C, h, w), IoU (C,), low-res logits (C, 256, 256) clamped), C = 3 or 1,
        as ``SAM2ImagePredictor.predict(..., return_logits=True)``."""
        feeds = {**prepared, **sam2_prompt_tensors(point_coords, point_labels, box, orig_size)}
        low_all, iou_all = self.sessions["decode"].run(["low_res_masks", "iou_predictions"], feeds)
        picks = slice(1, None) if multimask_output else slice(0, 1)
        low = low_all[0, picks]
        masks = upsample_sam2(low, orig_size)
        return masks, iou_all[0, picks], np.clip(low, -LOW_RES_CLAMP, LOW_RES_CLAMP)


@dataclass(frozen=True)
class PreparedSam2Image:
    """`Sam2WireDecoder.prepare`'s result: the per-image tensors and the features they came
    from (a mask input re-runs ``prepare.onnx`` on them)."""

    tensors: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    original_size: tuple[int, int]


class Sam2WireDecoder:
    """`export_onnx.runtime.OnnxDecoder`'s interface for a SAM 2.1 export: `prepare` takes the
    stored feature wire bytes (`export_onnx.wire2`), `predict` the same keywords and answers
    (masks, scores, low-res logits), so the server-side predict serves either family.
    Thread-safe: onnxruntime sessions are, and no image is kept between calls.

    Arguments:
        export_dir: a directory written by `export_onnx.sam2.run_export_sam2`.
    """

    def __init__(self, export_dir: str | Path, *, threads: int = 0) -> None:
        self.decoder = Sam2OnnxDecoder(export_dir, threads=threads)
        self.manifest = self.decoder.manifest
        self.model_key = bytes.fromhex(self.manifest["features"]["wire"]["model_key"])

    def prepare(self, wire_features: bytes | bytearray | memoryview) -> PreparedSam2Image:
        """Decode the wire bytes (to the floats the page decodes) and run ``prepare.onnx``.
        Either wire version is read (`export_onnx.wire2.READABLE_VERSIONS`).

        Raises:
            export_onnx.wire2.WireFormatError: not SAM 2 features, or another model's.
        """
        header = wire2.read_header(wire_features, model_key=self.model_key)
        features = wire2.decode_features(wire_features)
        return PreparedSam2Image(self.decoder.prepare(features), features, header.original_size)

    def predict(
        self,
        point_coords: Any = None,
        point_labels: Any = None,
        box: Any = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        orig_size: tuple[int, int] | None = None,
        *,
        image: PreparedSam2Image,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks (C, H, W) bool (logits if ``return_logits``), IoU (C,), low-res logits
        (C, 256, 256), as `OnnxDecoder.predict`; prompts in original pixels."""
        size = orig_size or image.original_size
        if size[0] < 1 or size[1] < 1:
            raise ValueError("orig_size is required: the features do not record their image size")
        tensors = image.tensors
        if mask_input is not None:
            tensors = self.decoder.prepare(image.features, mask_input)
        logits, scores, low = self.decoder.predict(
            tensors,
            orig_size=(int(size[0]), int(size[1])),
            point_coords=point_coords,
            point_labels=point_labels,
            box=box,
            multimask_output=multimask_output,
        )
        masks = logits if return_logits else logits > MASK_THRESHOLD
        return masks, scores.astype(np.float32), low.astype(np.float32)
