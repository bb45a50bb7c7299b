"""Export a SAM 2 / 2.1 checkpoint's prompt encoder + mask decoder (image mode) to ONNX.

`run_export_sam2` writes ``decoder.onnx`` (single graph, the reference ONNX interface),
``prepare.onnx`` + ``decode.onnx`` (the browser fast path) and ``manifest.json`` with
``model.family = "sam2"``; the graphs are described in `export_onnx.sam2_graphs`.
`export_onnx.export.run_export` calls it when the checkpoint is a SAM 2 one
(`is_sam2_state_dict`), so ``python -m export_onnx --checkpoint sam2.1_*.pt`` just works.

Before the manifest says "passed", every graph is run in onnxruntime against the PyTorch
predictor on random prompts (points, boxes, box + points, mask input; single and multimask).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from annotator.sam.digests import sha256_file

from . import __version__, sam2_graphs, wire2
from .export import trace_graph
from .sam2_runtime import Sam2OnnxDecoder, sam2_prompt_tensors

GRAPH_ROLES = {
    "decoder": "single graph: features + prompt -> full-size masks, IoU, low-res (4 candidates)",
    "prepare": "per image: features (+ mask input) -> prompt-independent tensors",
    "decode": "per prompt: prepared tensors + points -> 4 low-res logits and 4 IoU scores",
}
# Float32 graph vs PyTorch: rounding only (the fast path reassociates the attention sums).
LOGIT_ATOL = 1e-3
SCORE_ATOL = 1e-4
POINTS_AXES = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}


def is_sam2_state_dict(keys: Sequence[str] | Mapping[str, Any]) -> bool:
    """SAM 2 checkpoints name their heads ``sam_mask_decoder.*``; SAM 1 ones ``mask_decoder.*``."""
    return any(str(k).startswith("sam_mask_decoder.") for k in keys)


def dummy_inputs() -> list[torch.Tensor]:
    """Decoder-graph example inputs: features, a click + padding point, no mask."""
    return [
        torch.randn(1, 256, 64, 64),
        torch.randn(1, 32, 256, 256),
        torch.randn(1, 64, 128, 128),
        torch.tensor([[[512.0, 300.0], [200.0, 100.0], [0.0, 0.0]]]),
        torch.tensor([[1.0, 0.0, -1.0]]),
        torch.zeros(1, 1, 256, 256),
        torch.zeros(1),
    ]


def export_graphs(model: Any, out_dir: Path, opset: int) -> None:
    """Write ``decoder.onnx``, ``prepare.onnx`` and ``decode.onnx``. The feature wire format
    (`export_onnx.wire2`) needs no graph: its per-band bit widths decode in plain code, numpy on
    the server and `frontend/src/decoder/wire2.js` in the page."""
    args = dummy_inputs()
    trace_graph(
        sam2_graphs.Sam2DecoderGraph(model).eval(),
        [*args, torch.tensor([1500.0, 2250.0])],
        out_dir / "decoder.onnx",
        sam2_graphs.DECODER_INPUTS,
        sam2_graphs.DECODER_OUTPUTS,
        opset,
        POINTS_AXES,
    )
    prepare = sam2_graphs.Sam2PrepareGraph(model).eval()
    prep_args = [*args[:3], args[5], args[6]]
    trace_graph(
        prepare,
        prep_args,
        out_dir / "prepare.onnx",
        sam2_graphs.PREPARE_INPUTS,
        sam2_graphs.PREPARE_OUTPUTS,
        opset,
    )
    with torch.no_grad():
        prepared = prepare(*prep_args)
    trace_graph(
        sam2_graphs.Sam2DecodeGraph(model).eval(),
        [*prepared, args[3], args[4]],
        out_dir / "decode.onnx",
        sam2_graphs.DECODE_INPUTS,
        sam2_graphs.DECODE_OUTPUTS,
        opset,
        POINTS_AXES,
    )


def _io_spec(path: Path) -> dict[str, list[dict[str, Any]]]:
    from .manifest import io_spec

    return io_spec(path)


def build_manifest(model: Any, checkpoint: Path, digest: str, opset: int) -> dict[str, Any]:
    """The manifest of a SAM 2 export (graph specs and checksums filled in by `write_manifest`)."""
    decoder = model.sam_mask_decoder
    return {
        "format": "sam-annotator-onnx-export",
        "format_version": 1,
        "exporter": {
            "name": "export_onnx",
            "version": __version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
        },
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": {
            "family": "sam2",
            "type": str(model.model_name),
            "sam_version": str(model.sam_version),
            "checkpoint": checkpoint.name,
            "checkpoint_sha256": digest,
            "image_size": int(model.image_size),
            "mask_threshold": 0.0,
            "num_mask_tokens": int(decoder.num_mask_tokens),
            "dynamic_multimask_stability_delta": float(decoder.dynamic_multimask_stability_delta),
            "dynamic_multimask_stability_thresh": float(decoder.dynamic_multimask_stability_thresh),
        },
        "prompts": {
            "point_coords": "(1, N, 2) XY: x / w * 1024, y / h * 1024 (per axis, unrounded)",
            "point_labels": "(1, N): box corners 2, 3 first, then clicks 1/0, then (0, 0) "
            "with label -1, always (also with a box)",
            "candidates": "index 0: single-mask answer with the dynamic fallback applied; "
            "1..3: multimask tokens",
            "postprocess": "bilinear (align_corners=False) from 256x256 straight to (h, w); "
            "clamp only the low-res logits kept for mask_input to +-32, after upsampling",
        },
        "features": {
            "shapes": {
                "image_embed": [1, 256, 64, 64],
                "high_res_feats_0": [1, 32, 256, 256],
                "high_res_feats_1": [1, 64, 128, 128],
            },
            "dtype": "float32",
            "wire": wire2.manifest_entry(wire2.model_key_from_sha256(digest)),
        },
        "opset": opset,
        "graphs": {name: {"file": f"{name}.onnx"} for name in GRAPH_ROLES},
        "verification": {"status": "pending"},
    }


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    files: dict[str, dict[str, Any]] = {}
    for name, graph in manifest["graphs"].items():
        path = out_dir / graph["file"]
        graph.update(_io_spec(path), role=GRAPH_ROLES[name])
        graph["sha256"] = sha256_file(path)
        files[graph["file"]] = {"sha256": graph["sha256"], "bytes": path.stat().st_size}
    manifest["files"] = files
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def verify_sam2(model: Any, out_dir: Path, num_prompts: int, seed: int) -> dict[str, Any]:
    """Run decoder.onnx and the fast path against the PyTorch predictor on a synthetic image.

    Returns the measured worst differences; raises `export_onnx.verify.VerificationError` past
    ``LOGIT_ATOL`` (relative to max(1, |logit|)) or ``SCORE_ATOL``.
    """
    from annotator.sam2 import SAM2ImagePredictor

    from .verify import VerificationError

    rng = np.random.default_rng(seed)
    h, w = 300, 451  # not square: a per-axis scaling bug would show
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    predictor = SAM2ImagePredictor(model)
    predictor.set_image(image)
    assert predictor._features is not None
    features = {
        "image_embed": predictor._features["image_embed"].numpy(),
        "high_res_feats_0": predictor._features["high_res_feats"][0].numpy(),
        "high_res_feats_1": predictor._features["high_res_feats"][1].numpy(),
    }
    single = ort.InferenceSession(str(out_dir / "decoder.onnx"), providers=["CPUExecutionProvider"])
    fast = Sam2OnnxDecoder(out_dir, check_files=False)
    worst = {"logits": 0.0, "iou": 0.0}
    low_prev: np.ndarray | None = None
    for i in range(num_prompts):
        points = rng.uniform([0, 0], [w, h], (1 + i % 3, 2))
        labels = (np.arange(len(points)) == 0).astype(np.int64)
        box = None
        if i % 3 == 1:
            x0, y0 = rng.uniform([0, 0], [w / 2, h / 2])
            box = np.array([x0, y0, x0 + w / 3, y0 + h / 3])
        use_mask = i % 4 == 3 and low_prev is not None
        mask_input = low_prev if use_mask else None
        multimask = i % 2 == 0
        ref_masks, ref_iou, ref_low = predictor.predict(
            points, labels, box, mask_input, multimask_output=multimask, return_logits=True
        )
        picks = slice(1, None) if multimask else slice(0, 1)
        feeds = {
            **features,
            **sam2_prompt_tensors(points, labels, box, (h, w)),
            "mask_input": np.zeros((1, 1, 256, 256), np.float32)
            if mask_input is None
            else mask_input.reshape(1, 1, 256, 256).astype(np.float32),
            "has_mask_input": np.array([1.0 if use_mask else 0.0], np.float32),
            "orig_im_size": np.array([h, w], np.float32),
        }
        masks, iou, low = single.run(None, feeds)
        fast_out = fast.predict(
            fast.prepare(features, mask_input),
            orig_size=(h, w),
            point_coords=points,
            point_labels=labels,
            box=box,
            multimask_output=multimask,
        )
        for got_masks, got_iou, got_low in [
            (masks[0, picks], iou[0, picks], low[0, picks]),
            fast_out,
        ]:
            scale = max(1.0, float(np.abs(ref_masks).max()))
            d = max(np.abs(got_masks - ref_masks).max(), np.abs(got_low - ref_low).max()) / scale
            worst["logits"] = max(worst["logits"], float(d))
            worst["iou"] = max(worst["iou"], float(np.abs(got_iou - ref_iou).max()))
        low_prev = ref_low[int(np.argmax(ref_iou))][None]
    if worst["logits"] > LOGIT_ATOL or worst["iou"] > SCORE_ATOL:
        raise VerificationError(f"SAM 2 graphs disagree with PyTorch: {worst}")
    return {
        "status": "passed",
        "prompts": num_prompts,
        "max_rel_logit_diff": worst["logits"],
        "max_iou_diff": worst["iou"],
    }


def run_export_sam2(
    model: Any,
    checkpoint: Path,
    out_dir: str | Path,
    *,
    opset: int = 17,
    num_prompts: int = 10,
    seed: int = 0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Export and verify a loaded SAM 2 model; returns the manifest written to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.onnx"):
        stale.unlink()
    (out / "manifest.json").unlink(missing_ok=True)
    manifest = build_manifest(model, checkpoint, sha256_file(checkpoint), opset)
    progress("exporting SAM 2 decoder.onnx, prepare.onnx, decode.onnx")
    export_graphs(model, out, opset)
    write_manifest(out, manifest)
    progress("verifying the SAM 2 graphs against PyTorch")
    try:
        manifest["verification"] = verify_sam2(model, out, num_prompts, seed)
    except Exception as exc:
        manifest["verification"] = {"status": "failed", "error": str(exc)}
        raise
    finally:
        write_manifest(out, manifest)
    return manifest
