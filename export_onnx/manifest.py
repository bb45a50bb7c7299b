"""``manifest.json`` of an export directory: what a consumer needs to trust and run the graphs.

It records the model (type, checkpoint name and sha256, config), the embedding wire format
(`export_onnx.wire`), every graph's file, role, inputs and outputs, every file's sha256 and size,
the opset, the exporter's and its libraries' versions, and the verification results.
`export_onnx.runtime.load_manifest` checks the files against it before anything runs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
import torch

from annotator.sam.digests import sha256_file

from . import __version__, wire

GRAPH_ROLES = {
    "decoder": "Meta-compatible decoder: single mask, full-resolution masks (SamOnnxModel)",
    "prepare": "per image: wire embedding (+ mask input) -> prompt-independent tensors",
    "decode": "per prompt: prepared tensors + points -> 4 low-res logits and 4 IoU scores",
    "encoder": "image encoder: preprocessed (1, 3, 1024, 1024) -> (1, 256, 64, 64)",
    "decoder_int8": "decoder.onnx with dynamically quantized int8 weights",
    "decode_int8": "decode.onnx with dynamically quantized int8 weights",
}


def io_spec(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Names, dtypes and shapes (a name for a dynamic axis) of a graph's inputs and outputs."""
    model = onnx.load(str(path), load_external_data=False)

    def spec(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
            out.append({"name": v.name, "dtype": dtype, "shape": dims})
        return out

    return {"inputs": spec(model.graph.input), "outputs": spec(model.graph.output)}


def base_manifest(
    sam: Any, checkpoint: Path, digest: str, opset: int, quantized: bool, encoder: bool
) -> dict[str, Any]:
    """The manifest before anything is exported: model, embedding wire format, the graphs to be
    written (specs and checksums come with `write_manifest`), verification pending."""
    embed_dim = int(sam.prompt_encoder.embed_dim)
    h, w = sam.prompt_encoder.image_embedding_size
    graphs = {name: {"file": f"{name}.onnx"} for name in ("decoder", "prepare", "decode")}
    if quantized:
        graphs["decoder_int8"] = {"file": "decoder.int8.onnx"}
        graphs["decode_int8"] = {"file": "decode.int8.onnx"}
    if encoder:
        graphs["encoder"] = {"file": "encoder.onnx"}
    shape = (embed_dim, h, w)
    manifest: dict[str, Any] = {
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
            "type": str(getattr(sam, "model_type", "unknown")),
            "checkpoint": checkpoint.name,
            "checkpoint_sha256": digest,
            "config": getattr(sam, "config", {}),
            "image_size": int(sam.image_encoder.img_size),
            "mask_threshold": float(getattr(sam, "mask_threshold", 0.0)),
            "num_mask_tokens": int(sam.mask_decoder.num_mask_tokens),
        },
        "embedding": {
            "shape": [1, *shape],
            "dtype": "float32",
            "wire": {
                "format": "SAME",
                "version": wire.VERSION,
                "code": "uint8 affine per channel (x = offset[c] + scale[c] * q)",
                "header_bytes": wire.HEADER_SIZE,
                "bytes": wire.WireHeader(shape).nbytes,
                "model_key": wire.model_key_from_sha256(digest).hex(),
                "inputs": wire.WIRE_INPUTS,
            },
        },
        "opset": opset,
        "graphs": graphs,
        "verification": {"status": "pending"},
    }
    if encoder:
        manifest["preprocessing"] = {
            "resize": "longest side to image_size, PIL bilinear on uint8 RGB; "
            "new size = int(x * image_size / max(h, w) + 0.5)",
            "pixel_mean": [123.675, 116.28, 103.53],
            "pixel_std": [58.395, 57.12, 57.375],
            "layout": "NCHW float32, (x - mean) / std, zero-padded bottom/right to "
            "image_size x image_size",
            "input": "image",
        }
    return manifest


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Fill in graph specs and file checksums, then write ``manifest.json``."""
    files: dict[str, dict[str, Any]] = {}
    for name, graph in manifest["graphs"].items():
        path = out_dir / graph["file"]
        graph.update(io_spec(path), role=GRAPH_ROLES[name])
        graph["sha256"] = files.setdefault(graph["file"], {"sha256": sha256_file(path)})["sha256"]
        files[graph["file"]]["bytes"] = path.stat().st_size
    manifest["files"] = files
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
