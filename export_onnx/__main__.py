"""``python -m export_onnx --checkpoint PATH_OR_NAME --out DIR``: export and verify SAM's ONNX
graphs (see `export_onnx.export`). Exit codes: 0 ok, 2 bad arguments or checkpoint, 3 the
exported graphs disagree with PyTorch."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export_onnx",
        description="Export SAM's decoder (browser fast path + Meta-compatible decoder.onnx), "
        "optionally the image encoder and int8 variants, and verify them against PyTorch.",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or known name")
    parser.add_argument("--out", required=True, help="export directory to write")
    parser.add_argument(
        "--model-type", default="auto", help="auto, vit_b, vit_l, vit_h, mobile_sam"
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--quantize", action="store_true", help="also write int8 variants")
    parser.add_argument("--encoder", action="store_true", help="also export the image encoder")
    parser.add_argument("--prompts", type=int, default=10, help="random prompts to verify with")
    parser.add_argument("--quiet", action="store_true", help="only print errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    from .export import ExportError, run_export
    from .verify import VerificationError

    try:
        manifest = run_export(
            args.checkpoint,
            args.out,
            model_type=args.model_type,
            opset=args.opset,
            quantize_int8=args.quantize,
            encoder=args.encoder,
            num_prompts=args.prompts,
        )
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except VerificationError as exc:
        print(f"error: verification failed, do not use {args.out}: {exc}", file=sys.stderr)
        return 3
    if not args.quiet:
        print(json.dumps({"out": args.out, "verification": manifest["verification"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
