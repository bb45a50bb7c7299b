"""Export a SAM checkpoint to the ONNX graphs the browser and the servers run.

`run_export` writes into one directory:

* ``decoder.onnx``: Meta's decoder interface (``SamOnnxModel``, single mask, full-resolution
  masks), with the crop computed from ``orig_im_size`` so it is right for every image size.
  Tools written for Meta's export use it unchanged.
* ``prepare.onnx`` + ``decode.onnx``: the browser fast path (see `export_onnx.fast`).
* ``encoder.onnx`` (``encoder=True``): the image encoder for CPU servers without torch.
* ``*.int8.onnx`` (``quantize=True``): dynamically quantized variants, with measured agreement.
* ``manifest.json``: model, checkpoint sha256, embedding wire format, every file's sha256, each
  graph's inputs/outputs, opset, exporter version and the verification results.

Every graph is run in onnxruntime against the PyTorch model before the manifest says "passed";
a disagreement raises `export_onnx.verify.VerificationError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from . import __version__, fast, verify, wire

log = logging.getLogger(__name__)

DECODER_INPUTS = [
    "image_embeddings",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
]
DECODER_OUTPUTS = ["masks", "iou_predictions", "low_res_masks"]
POINTS_AXES = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}
# The image used to verify: not square, so that a crop traced as a constant would show.
VERIFY_IMAGE_SIZE = (300, 451)


class ExportError(RuntimeError):
    """The checkpoint could not be loaded or the model could not be exported."""


def sha256_file(path: Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(checkpoint: str | Path, model_type: str = "auto") -> tuple[Any, Path]:
    """Build the SAM model on CPU in eval mode; any loading problem becomes an `ExportError`."""
    from annotator.sam import build_sam, resolve_checkpoint

    try:
        path = Path(resolve_checkpoint(checkpoint, download=False))
        sam = build_sam(path, model_type=model_type, device="cpu")
    except Exception as exc:  # the loader raises several types; all mean "not exportable"
        raise ExportError(f"cannot load SAM checkpoint {checkpoint!s}: {exc}") from exc
    return sam, path


def _export(
    module: nn.Module,
    args: Sequence[torch.Tensor],
    path: Path,
    inputs: list[str],
    outputs: list[str],
    opset: int,
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> None:
    """Trace `module` to ONNX with the TorchScript exporter (stable names, opset control)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints are expected here
        torch.onnx.export(
            module,
            tuple(args),
            str(path),
            input_names=inputs,
            output_names=outputs,
            opset_version=opset,
            dynamic_axes=dynamic_axes or {},
            do_constant_folding=True,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))


def _dummy_prompt() -> tuple[torch.Tensor, torch.Tensor]:
    coords = torch.tensor([[[512.0, 300.0], [200.0, 100.0], [0.0, 0.0]]])
    return coords, torch.tensor([[1.0, 0.0, -1.0]])


def export_decoder(sam: Any, path: Path, opset: int) -> nn.Module:
    """Meta-compatible ``decoder.onnx``; returns the wrapper module it was traced from."""
    from annotator.sam.onnx_wrapper import SamOnnxModel

    model = SamOnnxModel(sam, return_single_mask=True).eval()
    coords, labels = _dummy_prompt()
    embed_dim = int(sam.prompt_encoder.embed_dim)
    h, w = sam.prompt_encoder.image_embedding_size
    args = [
        torch.randn(1, embed_dim, h, w),
        coords,
        labels,
        torch.zeros(1, 1, 4 * h, 4 * w),
        torch.zeros(1),
        torch.tensor([1500.0, 2250.0]),
    ]
    _export(model, args, path, DECODER_INPUTS, DECODER_OUTPUTS, opset, POINTS_AXES)
    return model


def export_fast_path(sam: Any, out_dir: Path, opset: int) -> None:
    """``prepare.onnx`` and ``decode.onnx`` (see `export_onnx.fast`)."""
    prepare = fast.PrepareGraph(sam).eval()
    embed_dim = int(sam.prompt_encoder.embed_dim)
    h, w = sam.prompt_encoder.image_embedding_size
    prep_args = [
        torch.randint(0, 256, (1, embed_dim, h, w), dtype=torch.uint8),
        torch.full((embed_dim,), 0.02),
        torch.full((embed_dim,), -2.5),
        torch.zeros(1, 1, 4 * h, 4 * w),
        torch.zeros(1),
    ]
    _export(
        prepare,
        prep_args,
        out_dir / "prepare.onnx",
        fast.PREPARE_INPUTS,
        fast.PREPARE_OUTPUTS,
        opset,
    )
    with torch.no_grad():
        prepared = prepare(*prep_args)
    _export(
        fast.DecodeGraph(sam).eval(),
        [*prepared, *_dummy_prompt()],
        out_dir / "decode.onnx",
        fast.DECODE_INPUTS,
        fast.DECODE_OUTPUTS,
        opset,
        POINTS_AXES,
    )


class _Encoder(nn.Module):
    def __init__(self, sam: Any) -> None:
        super().__init__()
        self.image_encoder: Any = sam.image_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(image)


def export_encoder(sam: Any, path: Path, opset: int) -> None:
    """``encoder.onnx``: (1, 3, 1024, 1024) preprocessed image -> (1, 256, 64, 64) embedding."""
    # The encoder computes its relative-position bias out of place while it is being exported
    # (annotator/sam/image_encoder.py), since exporters cannot translate `out=`.
    size = int(sam.image_encoder.img_size)
    _export(
        _Encoder(sam).eval(),
        [torch.randn(1, 3, size, size)],
        path,
        ["image"],
        ["image_embeddings"],
        opset,
    )


def quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization of the weights of MatMul/Gemm (activations quantized at run
    time), which is what onnxruntime-web and CPU servers both run efficiently."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Only products with a constant weight: quantizing attention's activation x activation
    # products (logits, weighted sums) costs far more agreement than it saves time.
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True},
    )


def _io_spec(path: Path) -> dict[str, list[dict[str, Any]]]:
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


GRAPH_ROLES = {
    "decoder": "Meta-compatible decoder: single mask, full-resolution masks (SamOnnxModel)",
    "prepare": "per image: wire embedding (+ mask input) -> prompt-independent tensors",
    "decode": "per prompt: prepared tensors + points -> 4 low-res logits and 4 IoU scores",
    "encoder": "image encoder: preprocessed (1, 3, 1024, 1024) -> (1, 256, 64, 64)",
    "decoder_int8": "decoder.onnx with dynamically quantized int8 weights",
    "decode_int8": "decode.onnx with dynamically quantized int8 weights",
}


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Fill in graph specs and file checksums, then write ``manifest.json``."""
    files: dict[str, dict[str, Any]] = {}
    for name, graph in manifest["graphs"].items():
        path = out_dir / graph["file"]
        graph.update(_io_spec(path), role=GRAPH_ROLES[name])
        graph["sha256"] = files.setdefault(graph["file"], {"sha256": sha256_file(path)})["sha256"]
        files[graph["file"]]["bytes"] = path.stat().st_size
    manifest["files"] = files
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _verification_image(size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth synthetic RGB image (HWC uint8): blobs, so that the embedding has structure."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for _ in range(12):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(15, 90)
        img += rng.uniform(0, 255, 3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _base_manifest(
    sam: Any, checkpoint: Path, digest: str, opset: int, quantized: bool, encoder: bool
) -> dict[str, Any]:
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


def run_export(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    model_type: str = "auto",
    opset: int = 17,
    quantize_int8: bool = False,
    encoder: bool = False,
    num_prompts: int = 10,
    seed: int = 0,
    progress: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Export and verify; returns the manifest that was written.

    Arguments:
        checkpoint: a checkpoint file or a known name (see ``annotator.sam.resolve_checkpoint``).
        out_dir: the export directory (created; existing files are replaced).
        model_type: ``auto`` or a registry name (``vit_b``, ``vit_l``, ``vit_h``, ``mobile_sam``).
        opset: ONNX opset of every graph.
        quantize_int8: also write and measure int8 variants of the decoders.
        encoder: also export the image encoder.
        num_prompts: random prompts used for verification.
    Raises:
        ExportError: the checkpoint cannot be loaded or exported.
        export_onnx.verify.VerificationError: a graph disagrees with the PyTorch model.
    """
    from annotator.sam import SamPredictor

    sam, path = load_model(checkpoint, model_type)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Files of an earlier export with other options must not survive next to the new manifest.
    for stale in ["manifest.json", *(f"{g}.onnx" for g in GRAPH_ROLES)]:
        (out / stale.replace("_int8", ".int8")).unlink(missing_ok=True)
    digest = sha256_file(path)
    manifest = _base_manifest(sam, path, digest, opset, quantize_int8, encoder)
    progress("exporting decoder.onnx, prepare.onnx, decode.onnx")
    export_decoder(sam, out / "decoder.onnx", opset)
    export_fast_path(sam, out, opset)
    if encoder:
        progress("exporting encoder.onnx")
        export_encoder(sam, out / "encoder.onnx", opset)
    if quantize_int8:
        progress("quantizing")
        quantize(out / "decoder.onnx", out / "decoder.int8.onnx")
        quantize(out / "decode.onnx", out / "decode.int8.onnx")
    write_manifest(out, manifest)

    progress("verifying every graph against PyTorch")
    report = verify.Report()
    try:
        _verify(sam, SamPredictor(sam), out, manifest, report, num_prompts, seed)
    finally:
        passed = not report.failures
        manifest["verification"] = {
            "status": "passed" if passed else "failed",
            "tolerances": {
                "low_res_logits_rel_atol": verify.LOGIT_ATOL,
                "iou_predictions_atol": verify.SCORE_ATOL,
                "mask_iou_min": verify.MASK_IOU_MIN,
                "encoder_rel_atol": verify.EMBED_ATOL,
                "int8_mean_mask_iou_min": verify.QUANT_IOU_MIN,
            },
            "image_size": list(VERIFY_IMAGE_SIZE),
            **report.checks,
            "failures": report.failures,
        }
        write_manifest(out, manifest)
    report.fail_if_any()
    return manifest


def _verify(
    sam: Any,
    predictor: Any,
    out: Path,
    manifest: dict[str, Any],
    report: verify.Report,
    num_prompts: int,
    seed: int,
) -> None:
    image = _verification_image(VERIFY_IMAGE_SIZE, seed)
    predictor.set_image(image)
    features = predictor.features.detach().cpu().numpy()
    if "encoder" in manifest["graphs"]:
        _verify_encoder(sam, predictor, image, features, out / "encoder.onnx", report)
    key = bytes.fromhex(manifest["embedding"]["wire"]["model_key"])
    wire_bytes = wire.encode_embedding(features, model_key=key, original_size=VERIFY_IMAGE_SIZE)
    dequantized, _ = wire.decode_embedding(wire_bytes)
    prompts = verify.random_prompts(np.random.default_rng(seed), VERIFY_IMAGE_SIZE, num_prompts)
    # Graph exactness is checked on the dequantized embedding (what the graphs see); the wire
    # format's own effect is measured separately below.
    predictor.set_image_embedding(dequantized, VERIFY_IMAGE_SIZE)
    fast_masks = verify.verify_fast_path(out, predictor, wire_bytes, prompts, report)
    plain = [p for p in prompts if not p.use_mask_input]
    with torch.no_grad():
        wrapper = _wrapper(sam)
    dec_masks = verify.verify_decoder(
        out / "decoder.onnx", wrapper, dequantized, VERIFY_IMAGE_SIZE, plain, report
    )
    decoder = verify.OnnxDecoder(out)
    report.checks["wire"] = {
        "bytes": len(wire_bytes),
        **verify.wire_agreement(decoder, predictor, features, prompts),
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
    report: verify.Report,
) -> None:
    transformed = predictor.transform.apply_image(image)
    x = torch.as_tensor(transformed).permute(2, 0, 1)[None].float()
    x = sam.preprocess(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["image_embeddings"], {"image": x})
    err = float(np.abs(got - features).max() / max(1.0, np.abs(features).max()))
    report.checks["encoder"] = {"rel_max_abs_diff": err}
    if err > verify.EMBED_ATOL:
        report.failures.append(f"encoder: relative max error {err:.2e} (tol {verify.EMBED_ATOL})")


def _verify_quantized(
    out: Path,
    decoder: Any,
    wire_bytes: bytes,
    prompts: list[verify.Prompt],
    plain: list[verify.Prompt],
    fast_masks: list[np.ndarray],
    dec_masks: list[np.ndarray],
    dequantized: np.ndarray,
    report: verify.Report,
) -> None:
    size = VERIFY_IMAGE_SIZE
    fast_ref = np.concatenate(fast_masks)
    dec_ref = list(dec_masks)

    def run_fast(session: ort.InferenceSession) -> list[np.ndarray]:
        got = verify.fast_masks_with(session, decoder, wire_bytes, prompts, size)
        return list(np.concatenate(got))

    def run_dec(session: ort.InferenceSession) -> list[np.ndarray]:
        masks = []
        for p in plain:
            feeds = {
                "image_embeddings": dequantized,
                **verify.prompt_tensors(p.point_coords, p.point_labels, p.box, size),
                "mask_input": np.zeros((1, 1, 256, 256), np.float32),
                "has_mask_input": np.zeros(1, np.float32),
                "orig_im_size": np.array(size, np.float32),
            }
            masks.append(session.run(["masks"], feeds)[0][0, 0] > 0)
        return masks

    for name, run, ref in (
        ("decode_int8", run_fast, list(fast_ref)),
        ("decoder_int8", run_dec, dec_ref),
    ):
        agreement = verify.quantized_agreement(
            out / f"{name.replace('_int8', '')}.int8.onnx", ref, run
        )
        report.checks[name] = agreement
        if agreement["mean_iou"] < verify.QUANT_IOU_MIN:
            report.failures.append(
                f"{name}: mean mask IoU with float32 {agreement['mean_iou']:.4f} "
                f"(min {verify.QUANT_IOU_MIN})"
            )
