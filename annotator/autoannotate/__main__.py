"""``python -m annotator.autoannotate --data images/ --det-model boxes.json --sam-model mobile_sam``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

DESCRIPTION = "Detector boxes prompt SAM; writes YOLO-seg labels (Ultralytics' auto_annotate)."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m annotator.autoannotate", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options, shared with `manage.py auto_annotate` so the two cannot drift apart."""
    p.add_argument("--data", required=True, nargs="+", help="image folder, image files")
    p.add_argument(
        "--det-model",
        default="yolo11x.pt",
        help="*.pt (Ultralytics, optional extra), *.onnx, COCO *.json boxes, or a folder of YOLO .txt",
    )
    p.add_argument("--sam-model", default="sam_vit_b", help="SAM checkpoint path or name")
    p.add_argument("--device", default="", help='"" (auto), cpu, cuda, cuda:N or N')
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.45)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--classes", type=int, nargs="*", default=None)
    p.add_argument("--output-dir", default=None, help="default: <data>_auto_annotate_labels")
    p.add_argument("--overwrite", action="store_true", help="redo images that have labels")
    p.add_argument("--batch-size", type=int, default=8, help="images per encoder call on CUDA")
    p.add_argument(
        "--text",
        action="extend",
        nargs="+",
        default=None,
        metavar="PHRASE",
        help="phrases to find instead of detector classes (--text cup --text 'red mug'); "
        "--det-model then names SAM 3, OWLv2 or Grounding DINO: a model id in the local "
        "Hugging Face cache or a folder",
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed options; 0 on success, 2 (after printing why) on bad input."""
    from annotator.autoannotate.run import auto_annotate
    from annotator.sam import CheckpointError, CheckpointUnavailable
    from annotator.text import TextModelUnavailable

    try:
        auto_annotate(
            args.data if len(args.data) > 1 else args.data[0],
            det_model=args.det_model,
            sam_model=args.sam_model,
            device=args.device,
            conf=args.conf,
            iou=args.iou,
            imgsz=args.imgsz,
            max_det=args.max_det,
            classes=args.classes,
            output_dir=args.output_dir,
            overwrite=args.overwrite,
            batch_size=args.batch_size,
            text=args.text,
        )
    except (
        ValueError,
        ImportError,
        FileNotFoundError,
        CheckpointError,
        CheckpointUnavailable,
        TextModelUnavailable,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
