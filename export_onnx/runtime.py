"""Decode masks on a server with numpy + onnxruntime only (no torch), from an export directory.

The Django web process serves ``POST /api/images/{id}/predict`` with `OnnxDecoder`. It runs the
same ``prepare.onnx`` / ``decode.onnx`` graphs as the browser worker and upsamples with the same
crop logic as ``frontend/src/decoder/upsample.js``, so server and browser masks agree by
construction, and both equal ``SamPredictor.predict`` (checked at export time and in
tests/export_onnx).

Example::

    decoder = OnnxDecoder("var/onnx/sam_vit_b")
    image = decoder.prepare(embedding_bytes)            # once per image (wire format)
    masks, scores, low_res = decoder.predict(
        point_coords=[[120, 80]], point_labels=[1], multimask_output=True,
        orig_size=(480, 640), image=image,
    )
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from annotator.sam.digests import sha256_file

from . import wire

IMG_SIZE = 1024
LOW_RES = 256
MASK_THRESHOLD = 0.0


class ExportMismatchError(ValueError):
    """An export directory or an embedding does not belong to this decoder."""


@dataclass(frozen=True)
class PreparedImage:
    """Prompt-independent tensors of one image (outputs of ``prepare.onnx``), plus its header.

    Attributes:
        tensors: name -> array as ``decode.onnx`` takes them (see `export_onnx.fast`).
        header: the embedding's wire header (original size, model key).
        wire_arrays: the wire arrays, kept to re-run ``prepare.onnx`` with a mask input.
    """

    tensors: dict[str, np.ndarray]
    header: wire.WireHeader
    wire_arrays: dict[str, np.ndarray]


def resized_size(orig_h: int, orig_w: int, long_side: int = IMG_SIZE) -> tuple[int, int]:
    """ResizeLongestSide.get_preprocess_shape: (h, w) after scaling the longest side to 1024."""
    scale = long_side * 1.0 / max(orig_h, orig_w)
    return int(orig_h * scale + 0.5), int(orig_w * scale + 0.5)


def transform_coords(coords: np.ndarray, orig_size: tuple[int, int]) -> np.ndarray:
    """(N, 2) XY in original pixels -> (N, 2) float32 XY in the 1024-resized frame."""
    h, w = orig_size
    new_h, new_w = resized_size(h, w)
    out = np.asarray(coords, dtype=np.float64).reshape(-1, 2).copy()
    out[:, 0] *= new_w / w
    out[:, 1] *= new_h / h
    return out.astype(np.float32)


def prompt_tensors(
    point_coords: np.ndarray | None,
    point_labels: np.ndarray | None,
    box: np.ndarray | None,
    orig_size: tuple[int, int],
) -> dict[str, np.ndarray]:
    """``point_coords`` (1, N, 2) and ``point_labels`` (1, N) float32 as the graphs take them.

    Points (XY, original pixels) come first, then the box (XYXY, original pixels, corners in any
    order) as two corners labelled 2 and 3; without a box a padding point (0, 0) labelled -1 is
    appended, as ``SamPredictor`` does (the same rule as ``feeds.js``).
    """
    coords = np.zeros((0, 2), np.float64)
    labels = np.zeros((0,), np.float32)
    if point_coords is not None:
        if point_labels is None:
            raise ValueError("point_labels must be given with point_coords")
        coords = np.asarray(point_coords, np.float64).reshape(-1, 2)
        labels = np.asarray(point_labels, np.float32).reshape(-1)
        if labels.shape[0] != coords.shape[0]:
            raise ValueError(f"{coords.shape[0]} points but {labels.shape[0]} labels")
    if box is not None:
        b = np.asarray(box, np.float64).reshape(4)
        corners = np.array([np.minimum(b[:2], b[2:]), np.maximum(b[:2], b[2:])])
        coords = np.concatenate([coords, corners])
        labels = np.concatenate([labels, np.array([2, 3], np.float32)])
    if coords.shape[0] == 0:
        raise ValueError("give at least one point or a box")
    if not np.isfinite(coords).all():
        raise ValueError("prompt coordinates must be finite")
    out = transform_coords(coords, orig_size)
    if box is None:
        out = np.concatenate([out, np.zeros((1, 2), np.float32)])
        labels = np.concatenate([labels, np.array([-1], np.float32)])
    return {"point_coords": out[None], "point_labels": labels[None].astype(np.float32)}


def _bilinear_matrix(in_size: int, out_size: int, count: int | None = None) -> np.ndarray:
    """(count, in_size) weights of PyTorch's bilinear resize (align_corners=False) along one axis,
    for the first ``count`` output positions (the crop)."""
    count = out_size if count is None else count
    dst = np.arange(count, dtype=np.float64)
    src = np.maximum((dst + 0.5) * (in_size / out_size) - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    m = np.zeros((count, in_size), np.float64)
    np.add.at(m, (np.arange(count), lo), 1.0 - frac)
    np.add.at(m, (np.arange(count), hi), frac)
    return m


def upsample_matrices(orig_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column maps (H, 256), (W, 256) so that ``Ry @ low_res @ Rx.T`` equals
    ``Sam.postprocess_masks``: bilinear to 1024, crop to the resized size, bilinear to (H, W).
    Both resizes are linear and separable, so their product is one matrix per axis."""
    h, w = orig_size
    new_h, new_w = resized_size(h, w)
    ry = _bilinear_matrix(new_h, h) @ _bilinear_matrix(LOW_RES, IMG_SIZE, new_h)
    rx = _bilinear_matrix(new_w, w) @ _bilinear_matrix(LOW_RES, IMG_SIZE, new_w)
    return ry.astype(np.float32), rx.astype(np.float32)


def upsample_logits(low_res: np.ndarray, orig_size: tuple[int, int]) -> np.ndarray:
    """(C, 256, 256) low-res logits -> (C, H, W) float32 logits at the original size."""
    ry, rx = upsample_matrices(orig_size)
    return np.einsum("hy,cyx,wx->chw", ry, low_res.astype(np.float32), rx, optimize=True)


def load_manifest(export_dir: str | Path, *, check_files: bool = True) -> dict[str, Any]:
    """Read ``manifest.json`` and (by default) verify every listed file's sha256.

    Raises:
        ExportMismatchError: missing manifest, a file missing or with another checksum, or an
            export whose verification failed.
    """
    root = Path(export_dir)
    path = root / "manifest.json"
    if not path.is_file():
        raise ExportMismatchError(f"{root} is not an ONNX export (no manifest.json)")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("verification", {}).get("status") == "failed":
        raise ExportMismatchError(f"{root}: this export failed verification; export it again")
    if check_files:
        for name, info in manifest["files"].items():
            file = root / name
            if not file.is_file() or sha256_file(file) != info["sha256"]:
                raise ExportMismatchError(f"{file}: missing or checksum differs from manifest")
    return manifest


class OnnxDecoder:
    """SAM prompt decoding with the fast-path graphs of an export directory.

    Arguments:
        export_dir: a directory written by `export_onnx.export.run_export`.
        quantized: use ``decode.int8.onnx`` when the export has it (smaller, less exact).
        check_files: verify the files' sha256 against the manifest when loading.
        threads: onnxruntime intra-op threads (0 = onnxruntime's default).

    The instance is safe to share between threads: onnxruntime sessions are, and the current
    image set by `prepare` is only a default for `predict` (pass ``image=`` to be explicit).
    """

    def __init__(
        self,
        export_dir: str | Path,
        *,
        quantized: bool = False,
        check_files: bool = True,
        threads: int = 0,
    ) -> None:
        self.export_dir = Path(export_dir)
        self.manifest = load_manifest(self.export_dir, check_files=check_files)
        graphs = self.manifest["graphs"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        decode = "decode_int8" if quantized and "decode_int8" in graphs else "decode"
        self._prepare = ort.InferenceSession(
            str(self.export_dir / graphs["prepare"]["file"]), options, providers=providers
        )
        self._decode = ort.InferenceSession(
            str(self.export_dir / graphs[decode]["file"]), options, providers=providers
        )
        self.model_key = bytes.fromhex(self.manifest["embedding"]["wire"]["model_key"])
        self._lock = threading.Lock()
        self._current: PreparedImage | None = None

    def prepare(self, wire_embedding: bytes | bytearray | memoryview) -> PreparedImage:
        """Run the per-image graph on an embedding in the wire format; also make it current.

        Raises:
            export_onnx.wire.WireFormatError: not an embedding in the wire format.
            ExportMismatchError: the embedding was computed by another checkpoint.
        """
        header = wire.read_header(wire_embedding)
        if header.model_key != b"\x00" * 16 and header.model_key != self.model_key:
            raise ExportMismatchError(
                f"embedding belongs to model key {header.model_key.hex()}, "
                f"this decoder to {self.model_key.hex()}"
            )
        arrays = wire.wire_arrays(wire_embedding)
        tensors = self._run_prepare(arrays, None)
        image = PreparedImage(tensors, header, arrays)
        with self._lock:
            self._current = image
        return image

    def _run_prepare(
        self, arrays: dict[str, np.ndarray], mask_input: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        mask = np.zeros((1, 1, LOW_RES, LOW_RES), np.float32)
        if mask_input is not None:
            mask = np.asarray(mask_input, np.float32).reshape(1, 1, LOW_RES, LOW_RES)
        feeds = {
            **arrays,
            "mask_input": mask,
            "has_mask_input": np.array([0.0 if mask_input is None else 1.0], np.float32),
        }
        names = [o.name for o in self._prepare.get_outputs()]
        return dict(zip(names, self._prepare.run(names, feeds), strict=True))

    def predict(
        self,
        point_coords: np.ndarray | list[list[float]] | None = None,
        point_labels: np.ndarray | list[int] | None = None,
        box: np.ndarray | list[float] | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        orig_size: tuple[int, int] | None = None,
        *,
        image: PreparedImage | None = None,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for one prompt set, as ``SamPredictor.predict`` returns them.

        Arguments:
            point_coords: (N, 2) XY in original image pixels; point_labels (N,) 1 fg / 0 bg.
            box: (4,) XYXY in original image pixels.
            mask_input: (1, 256, 256) low-res logits of a previous prediction.
            multimask_output: the 3 multimask candidates instead of the single mask.
            orig_size: (H, W) of the image; defaults to the size stored in the embedding.
            image: a `prepare` result; defaults to the last prepared image.
            return_logits: return float32 logits instead of booleans.
        Returns:
            masks (C, H, W) bool (logits if ``return_logits``), scores (C,) float32 predicted
            IoU, low-res logits (C, 256, 256) float32; C = 3 with multimask, else 1.
        """
        image = image or self._current
        if image is None:
            raise RuntimeError("call prepare(wire_embedding) before predict")
        size = orig_size or image.header.original_size
        if size[0] < 1 or size[1] < 1:
            raise ValueError("orig_size is required: the embedding does not record its image size")
        size = (int(size[0]), int(size[1]))
        tensors = image.tensors
        if mask_input is not None:
            tensors = self._run_prepare(image.wire_arrays, mask_input)
        pc = None if point_coords is None else np.asarray(point_coords, np.float64)
        pl = None if point_labels is None else np.asarray(point_labels)
        bx = None if box is None else np.asarray(box, np.float64)
        feeds = {**tensors, **prompt_tensors(pc, pl, bx, size)}
        low_res_all, iou_all = self._decode.run(["low_res_masks", "iou_predictions"], feeds)
        picks = slice(1, None) if multimask_output else slice(0, 1)
        low_res = low_res_all[0, picks]
        scores = iou_all[0, picks]
        logits = upsample_logits(low_res, size)
        masks = logits if return_logits else logits > MASK_THRESHOLD
        return masks, scores.astype(np.float32), low_res.astype(np.float32)
