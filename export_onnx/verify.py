"""Check the exported graphs in onnxruntime against the PyTorch model, on random prompts
(`verify_export`, which `export_onnx.export.run_export` runs before the manifest says "passed").

Tolerances (stated in the manifest and in error messages), for float32 graphs vs PyTorch:

* low-res logits: max |difference| <= ``LOGIT_ATOL`` * max(1, max |reference|)
* IoU predictions: max |difference| <= ``SCORE_ATOL``
* thresholded full-resolution masks: IoU >= ``MASK_IOU_MIN`` per candidate
* image encoder: max |difference| <= ``EMBED_ATOL`` * max(1, max |reference|)
* int8 variants: mean IoU of their masks with the float32 masks >= ``QUANT_IOU_MIN``

The graphs are exact algebra on the model's weights, so float32 results agree to rounding; these
tolerances leave room for rounding only, and a wrong graph misses them by orders of magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from . import wire
from .runtime import OnnxDecoder, prompt_tensors, upsample_logits

LOGIT_ATOL = 1e-3
SCORE_ATOL = 1e-3
MASK_IOU_MIN = 0.999
EMBED_ATOL = 1e-3
QUANT_IOU_MIN = 0.97
# The image used to verify: not square, so that a crop traced as a constant would show.
VERIFY_IMAGE_SIZE = (300, 451)


class VerificationError(RuntimeError):
    """An exported graph disagrees with the PyTorch model beyond the stated tolerance."""


@dataclass
class Prompt:
    """One random prompt set, in original image pixels."""

    point_coords: np.ndarray | None
    point_labels: np.ndarray | None
    box: np.ndarray | None
    multimask: bool
    use_mask_input: bool = False


@dataclass
class Report:
    """What verification measured; goes into the manifest."""

    checks: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The manifest's ``verification`` section: status, tolerances, measurements, failures."""
        return {
            "status": "failed" if self.failures else "passed",
            "tolerances": {
                "low_res_logits_rel_atol": LOGIT_ATOL,
                "iou_predictions_atol": SCORE_ATOL,
                "mask_iou_min": MASK_IOU_MIN,
                "encoder_rel_atol": EMBED_ATOL,
                "int8_mean_mask_iou_min": QUANT_IOU_MIN,
            },
            "image_size": list(VERIFY_IMAGE_SIZE),
            **self.checks,
            "failures": self.failures,
        }

    def fail_if_any(self) -> None:
        if self.failures:
            raise VerificationError(
                "exported graphs disagree with the PyTorch model:\n  " + "\n  ".join(self.failures)
            )


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def random_prompts(rng: np.random.Generator, size: tuple[int, int], count: int) -> list[Prompt]:
    """Seeded prompts covering every prompt kind: points (single and multimask), pos/neg points,
    box only, box plus points, and a click that feeds the previous low-res mask back."""
    h, w = size
    prompts: list[Prompt] = []
    for i in range(count):
        kind = i % 5
        n = 1 if kind in (0, 4) else int(rng.integers(2, 4))
        pts = rng.uniform([0, 0], [w, h], size=(n, 2))
        labels = (rng.uniform(size=n) < 0.7).astype(np.int64)
        labels[0] = 1
        box = None
        if kind in (2, 3):
            x0, y0 = rng.uniform([0, 0], [w * 0.6, h * 0.6])
            x1, y1 = rng.uniform([x0 + 5, y0 + 5], [w, h])
            box = np.array([x0, y0, x1, y1])
        if kind == 2:
            pts, labels = None, None  # type: ignore[assignment]
        prompts.append(Prompt(pts, labels, box, multimask=kind in (0, 3), use_mask_input=kind == 4))
    return prompts


def decoder_feeds(
    embedding: np.ndarray, prompt: Prompt, size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """``decoder.onnx``'s inputs for one prompt without a mask input, in the graph's (and
    `SamOnnxModel.forward`'s) argument order."""
    return {
        "image_embeddings": embedding.astype(np.float32),
        **prompt_tensors(prompt.point_coords, prompt.point_labels, prompt.box, size),
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array(size, np.float32),
    }


def _worse(worst: dict[str, float], logit: float, score: float, iou: float) -> dict[str, float]:
    """The running worst case of a graph's errors, with one more prompt's."""
    return {
        "logit": max(worst["logit"], logit),
        "score": max(worst["score"], score),
        "iou": min(worst["iou"], iou),
    }


def verify_fast_path(
    export_dir: Path, predictor: Any, wire_bytes: bytes, prompts: list[Prompt], report: Report
) -> list[np.ndarray]:
    """prepare.onnx + decode.onnx (through `OnnxDecoder`) vs ``SamPredictor.predict`` on the
    dequantized embedding. Returns the float32 path's full-resolution masks per prompt."""
    decoder = OnnxDecoder(export_dir)
    image = decoder.prepare(wire_bytes)
    size = predictor.original_size
    worst = {"logit": 0.0, "score": 0.0, "iou": 1.0}
    masks_out: list[np.ndarray] = []
    previous: np.ndarray | None = None
    for i, p in enumerate(prompts):
        mask_input = previous if p.use_mask_input else None
        ref_masks, ref_scores, ref_low = predictor.predict(
            p.point_coords, p.point_labels, p.box, mask_input, p.multimask
        )
        masks, scores, low = decoder.predict(
            p.point_coords, p.point_labels, p.box, mask_input, p.multimask, size, image=image
        )
        logit_err = float(np.abs(low - ref_low).max() / max(1.0, np.abs(ref_low).max()))
        score_err = float(np.abs(scores - ref_scores).max())
        iou = min(mask_iou(m, r) for m, r in zip(masks, ref_masks, strict=True))
        worst = _worse(worst, logit_err, score_err, iou)
        if logit_err > LOGIT_ATOL or score_err > SCORE_ATOL or iou < MASK_IOU_MIN:
            report.failures.append(
                f"fast path, prompt {i}: low-res logit error {logit_err:.2e} (tol {LOGIT_ATOL}), "
                f"score error {score_err:.2e} (tol {SCORE_ATOL}), mask IoU {iou:.4f} "
                f"(min {MASK_IOU_MIN})"
            )
        previous = ref_low[int(np.argmax(ref_scores))][None]
        masks_out.append(masks)
    report.checks["fast_path"] = {"prompts": len(prompts), **worst}
    return masks_out


def verify_decoder(
    path: Path,
    onnx_model: torch.nn.Module,
    embedding: np.ndarray,
    size: tuple[int, int],
    prompts: list[Prompt],
    report: Report,
    name: str = "decoder",
) -> list[np.ndarray]:
    """decoder.onnx (Meta's interface) vs the wrapper it was exported from, same inputs."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = {"logit": 0.0, "score": 0.0, "iou": 1.0}
    masks_out = []
    for i, p in enumerate(prompts):
        feeds = decoder_feeds(embedding, p, size)
        masks, scores, low = session.run(["masks", "iou_predictions", "low_res_masks"], feeds)
        with torch.no_grad():
            ref = [t.numpy() for t in onnx_model(*[torch.from_numpy(v) for v in feeds.values()])]
        logit_err = float(np.abs(low - ref[2]).max() / max(1.0, np.abs(ref[2]).max()))
        score_err = float(np.abs(scores - ref[1]).max())
        iou = mask_iou(masks > 0, ref[0] > 0)
        worst = _worse(worst, logit_err, score_err, iou)
        if masks.shape[-2:] != tuple(size):
            report.failures.append(f"{name}, prompt {i}: masks {masks.shape}, image {size}")
        if logit_err > LOGIT_ATOL or score_err > SCORE_ATOL or iou < MASK_IOU_MIN:
            report.failures.append(
                f"{name}, prompt {i}: logit error {logit_err:.2e}, score error "
                f"{score_err:.2e}, mask IoU {iou:.4f}"
            )
        masks_out.append(masks[0] > 0)
    report.checks[name] = {"prompts": len(prompts), **worst}
    return masks_out


def quantized_agreement(
    session_path: Path, reference_masks: list[np.ndarray], run: Any
) -> dict[str, float]:
    """Mean and minimum mask IoU of an int8 graph's masks with the float32 ones."""
    session = ort.InferenceSession(str(session_path), providers=["CPUExecutionProvider"])
    ious = [mask_iou(m, r) for m, r in zip(run(session), reference_masks, strict=True)]
    return {"mean_iou": float(np.mean(ious)), "min_iou": float(np.min(ious))}


def fast_masks_with(
    session: ort.InferenceSession,
    decoder: OnnxDecoder,
    wire_bytes: bytes,
    prompts: list[Prompt],
    size: tuple[int, int],
) -> list[np.ndarray]:
    """Full-resolution masks of `prompts` decoded by another decode graph (e.g. int8)."""
    image = decoder.prepare(wire_bytes)
    out = []
    previous = None
    for p in prompts:
        tensors = image.tensors
        if p.use_mask_input and previous is not None:
            tensors = decoder._run_prepare(image.wire_arrays, previous)
        feeds = {**tensors, **prompt_tensors(p.point_coords, p.point_labels, p.box, size)}
        low, iou = session.run(["low_res_masks", "iou_predictions"], feeds)
        picks = slice(1, None) if p.multimask else slice(0, 1)
        out.append(upsample_logits(low[0, picks], size) > 0)
        previous = low[0, picks][int(np.argmax(iou[0, picks]))][None]
    return out


def wire_agreement(
    decoder: OnnxDecoder,
    predictor: Any,
    features: np.ndarray,
    prompts: list[Prompt],
) -> dict[str, float]:
    """Mask IoU between the float embedding (PyTorch) and the wire embedding (graphs)."""
    size = predictor.original_size
    predictor.set_image_embedding(features, size)
    image = decoder.prepare(wire.encode_embedding(features, original_size=size))
    ious = []
    for p in prompts:
        if p.use_mask_input:
            continue
        ref, _, _ = predictor.predict(p.point_coords, p.point_labels, p.box, None, p.multimask)
        got, _, _ = decoder.predict(
            p.point_coords, p.point_labels, p.box, None, p.multimask, size, image=image
        )
        ious += [mask_iou(a, b) for a, b in zip(got, ref, strict=True)]
    return {"mean_iou": float(np.mean(ious)), "min_iou": float(np.min(ious))}


def verification_image(size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth synthetic RGB image (HWC uint8): blobs, so that the embedding has structure."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for _ in range(12):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(15, 90)
        img += rng.uniform(0, 255, 3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def verify_export(
    sam: Any,
    predictor: Any,
    out: Path,
    manifest: dict[str, Any],
    report: Report,
    num_prompts: int,
    seed: int,
) -> None:
    """Every graph of the export in `out` against `sam`, on a synthetic image and `num_prompts`
    seeded prompts; what it measures and every failure go into `report`."""
    image = verification_image(VERIFY_IMAGE_SIZE, seed)
    predictor.set_image(image)
    features = predictor.features.detach().cpu().numpy()
    if "encoder" in manifest["graphs"]:
        _verify_encoder(sam, predictor, image, features, out / "encoder.onnx", report)
    key = bytes.fromhex(manifest["embedding"]["wire"]["model_key"])
    wire_bytes = wire.encode_embedding(features, model_key=key, original_size=VERIFY_IMAGE_SIZE)
    dequantized, _ = wire.decode_embedding(wire_bytes)
    prompts = random_prompts(np.random.default_rng(seed), VERIFY_IMAGE_SIZE, num_prompts)
    # Graph exactness is checked on the dequantized embedding (what the graphs see); the wire
    # format's own effect is measured separately below.
    predictor.set_image_embedding(dequantized, VERIFY_IMAGE_SIZE)
    fast_masks = verify_fast_path(out, predictor, wire_bytes, prompts, report)
    plain = [p for p in prompts if not p.use_mask_input]
    with torch.no_grad():
        wrapper = _wrapper(sam)
    dec_masks = verify_decoder(
        out / "decoder.onnx", wrapper, dequantized, VERIFY_IMAGE_SIZE, plain, report
    )
    decoder = OnnxDecoder(out)
    report.checks["wire"] = {
        "bytes": len(wire_bytes),
        **wire_agreement(decoder, predictor, features, prompts),
    }
    if "decode_int8" in manifest["graphs"]:
        _verify_quantized(
            out, decoder, wire_bytes, prompts, plain, fast_masks, dec_masks, dequantized, report
        )


def _wrapper(sam: Any) -> nn.Module:
    from annotator.sam.onnx_wrapper import SamOnnxModel

    return SamOnnxModel(sam, return_single_mask=True).eval()


def _verify_encoder(
    sam: Any,
    predictor: Any,
    image: np.ndarray,
    features: np.ndarray,
    path: Path,
    report: Report,
) -> None:
    transformed = predictor.transform.apply_image(image)
    x = torch.as_tensor(transformed).permute(2, 0, 1)[None].float()
    x = sam.preprocess(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["image_embeddings"], {"image": x})
    err = float(np.abs(got - features).max() / max(1.0, np.abs(features).max()))
    report.checks["encoder"] = {"rel_max_abs_diff": err}
    if err > EMBED_ATOL:
        report.failures.append(f"encoder: relative max error {err:.2e} (tol {EMBED_ATOL})")


def _verify_quantized(
    out: Path,
    decoder: Any,
    wire_bytes: bytes,
    prompts: list[Prompt],
    plain: list[Prompt],
    fast_masks: list[np.ndarray],
    dec_masks: list[np.ndarray],
    dequantized: np.ndarray,
    report: Report,
) -> None:
    size = VERIFY_IMAGE_SIZE
    fast_ref = np.concatenate(fast_masks)
    dec_ref = list(dec_masks)

    def run_fast(session: ort.InferenceSession) -> list[np.ndarray]:
        got = fast_masks_with(session, decoder, wire_bytes, prompts, size)
        return list(np.concatenate(got))

    def run_dec(session: ort.InferenceSession) -> list[np.ndarray]:
        masks = []
        for p in plain:
            feeds = decoder_feeds(dequantized, p, size)
            masks.append(session.run(["masks"], feeds)[0][0, 0] > 0)
        return masks

    for name, run, ref in (
        ("decode_int8", run_fast, list(fast_ref)),
        ("decoder_int8", run_dec, dec_ref),
    ):
        agreement = quantized_agreement(out / f"{name.replace('_int8', '')}.int8.onnx", ref, run)
        report.checks[name] = agreement
        if agreement["mean_iou"] < QUANT_IOU_MIN:
            report.failures.append(
                f"{name}: mean mask IoU with float32 {agreement['mean_iou']:.4f} "
                f"(min {QUANT_IOU_MIN})"
            )
