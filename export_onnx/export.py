"""Export a SAM checkpoint to the ONNX graphs the browser and the servers run.

`run_export` writes into one directory:

* ``decoder.onnx``: Meta's decoder interface (``SamOnnxModel``, single mask, full-resolution
  masks), with the crop computed from ``orig_im_size`` so it is right for every image size.
  Tools written for Meta's export use it unchanged.
* ``prepare.onnx`` + ``decode.onnx``: the browser fast path (see `export_onnx.fast`).
* ``encoder.onnx`` (``encoder=True``): the image encoder for CPU servers without torch.
* ``*.int8.onnx`` (``quantize=True``): dynamically quantized variants, with measured agreement.
* ``manifest.json``: model, checkpoint sha256, embedding wire format, every file's sha256, each
  graph's inputs/outputs, opset, exporter version and the verification results (written by
  `export_onnx.manifest`).

Every graph is run in onnxruntime against the PyTorch model (`export_onnx.verify`) before the
manifest says "passed"; a disagreement raises `export_onnx.verify.VerificationError`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from annotator.sam.digests import sha256_file

from . import fast, verify
from .manifest import GRAPH_ROLES, base_manifest, write_manifest

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


class ExportError(RuntimeError):
    """The checkpoint could not be loaded or the model could not be exported."""


def load_model(checkpoint: str | Path, model_type: str = "auto") -> tuple[Any, Path]:
    """Build the SAM model on CPU in eval mode; any loading problem becomes an `ExportError`."""
    from annotator.sam import build_sam, resolve_checkpoint

    try:
        path = Path(resolve_checkpoint(checkpoint, download=False))
        sam = build_sam(path, model_type=model_type, device="cpu")
    except Exception as exc:  # the loader raises several types; all mean "not exportable"
        raise ExportError(f"cannot load SAM checkpoint {checkpoint!s}: {exc}") from exc
    return sam, path


def _load_sam2_if_sam2(checkpoint: str | Path) -> tuple[Any, Path] | None:
    """The SAM 2 model and its file when `checkpoint` is a SAM 2 / 2.1 one, else None.

    The family is told by the state dict's keys (``sam_mask_decoder.*``), so any file name works;
    a known SAM 2 name (``sam2.1_hiera_tiny``) is resolved from the cache directory.
    """
    from annotator.sam.checkpoints import load_state_dict
    from annotator.sam2 import SAM2_CHECKPOINTS
    from annotator.sam2.build import sam2_from_state_dict
    from annotator.sam2.checkpoints import resolve_sam2_checkpoint

    from .sam2 import is_sam2_state_dict

    path = Path(checkpoint)
    if not path.is_file():
        if str(checkpoint) not in SAM2_CHECKPOINTS:
            return None
        try:
            path = resolve_sam2_checkpoint(checkpoint)
        except Exception as exc:  # missing from the cache: not downloadable here
            raise ExportError(f"cannot load SAM 2 checkpoint {checkpoint!s}: {exc}") from exc
    try:
        state = load_state_dict(path)
    except Exception:  # unreadable: the SAM 1 loader reports it (the same file, its message)
        return None
    if not is_sam2_state_dict(state):
        return None
    try:
        return sam2_from_state_dict(state, source=str(path)), path
    except Exception as exc:
        raise ExportError(f"cannot load SAM 2 checkpoint {checkpoint!s}: {exc}") from exc


def trace_graph(
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
    trace_graph(model, args, path, DECODER_INPUTS, DECODER_OUTPUTS, opset, POINTS_AXES)
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
    trace_graph(
        prepare,
        prep_args,
        out_dir / "prepare.onnx",
        fast.PREPARE_INPUTS,
        fast.PREPARE_OUTPUTS,
        opset,
    )
    with torch.no_grad():
        prepared = prepare(*prep_args)
    trace_graph(
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
    trace_graph(
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
        checkpoint: a checkpoint file or a known name (see ``annotator.sam.resolve_checkpoint``);
            a SAM 2 / 2.1 checkpoint is recognised by its keys and exported by
            `export_onnx.sam2.run_export_sam2` (``model_type``, ``quantize_int8`` and
            ``encoder`` do not apply to it).
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

    sam2 = _load_sam2_if_sam2(checkpoint)
    if sam2 is not None:
        from .sam2 import run_export_sam2

        model, sam2_path = sam2
        return run_export_sam2(
            model, sam2_path, out_dir, opset=opset, num_prompts=num_prompts, seed=seed,
            progress=progress,
        )  # fmt: skip
    sam, path = load_model(checkpoint, model_type)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Files of an earlier export with other options must not survive next to the new manifest.
    for stale in ["manifest.json", *(f"{g}.onnx" for g in GRAPH_ROLES)]:
        (out / stale.replace("_int8", ".int8")).unlink(missing_ok=True)
    digest = sha256_file(path)
    manifest = base_manifest(sam, path, digest, opset, quantize_int8, encoder)
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
        verify.verify_export(sam, SamPredictor(sam), out, manifest, report, num_prompts, seed)
    finally:
        manifest["verification"] = report.summary()
        write_manifest(out, manifest)
    report.fail_if_any()
    return manifest
