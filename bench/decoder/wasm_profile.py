"""Where the fast path's per-prompt time goes in onnxruntime-web's wasm kernels, by operator.

Runs ``wasm_profile.mjs`` (decode.onnx, one thread, under Node, onnxruntime's own per-node
profiler) and sums kernel time per operator type and per large node, so that a proposal to make
the decoder faster can be checked against what actually costs time.

    .venv/bin/python -m bench.decoder.wasm_profile [--runs 8] [--write-results]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import REFERENCE, ROOT, write_results
from bench.decoder.bench_decoder import OUT

HEAD = "## Browser decoder: where the time goes (issues 4 and 6)"

# What was tried against these figures (2026-11-25, quiet machine, wasm CPU time of one thread
# from bench/decoder/wasm_cpu.mjs, interleaved runs); kept here so the next attempt starts from it.
FINDINGS = [
    "What was tried against this profile, exact algebra only (the graphs must give the same "
    "masks):",
    "",
    "- Folding the upscaler's first transposed convolution back through both blocks' norm4 "
    "LayerNorms into a per-image product plus rank-(h*T+2) corrections per prompt (268M -> 118M "
    "multiply-adds per prompt): decode 110.8/108.5 ms -> 105.5/104.4 ms p50 (-4%), prepare "
    "41 -> 60 ms. The products it removes are not where wasm spends its time: every extra "
    "elementwise pass over a 4096x256 tensor costs 4-5 ms in onnxruntime-web's kernels (about "
    "4.5 ns per element), so the corrections ate most of the saving. Not kept.",
    "- LayerNorm statistics as products with a 1/C column instead of the LayerNormalization "
    "kernel: 6.2 vs 7.5 ms per 4096x256 in isolation, slower once its extra passes are counted.",
    "- GELU alone is 15 ms per prompt (erf is scalar in this build; tanh-GELU was measured "
    "earlier without gain, and is not exact).",
    "- Not exact, for comparison: the int8 variant (`--quantize`, `decode.int8.onnx`) takes "
    "95.5/96.5 ms against 114.4/109.4 ms for float32 (-13%), that is 2.0x the reference's "
    "190-193 ms, at a mean mask IoU of 0.977 (min 0.949) with float32. Quantizing alone does "
    "not reach 4x either.",
    "",
    "So the exact graph is bound by elementwise passes and the two upscaler GEMMs that every "
    "exact formulation keeps; a several-fold step needs WebGPU or a decision to relax exactness "
    "for hover previews (see the notes of issues 4 and 6).",
    "",
]


def profile(export_dir: Path, runs: int) -> list[dict[str, Any]]:
    if not (export_dir / "manifest.json").is_file():
        from export_onnx.export import run_export

        run_export(REFERENCE / "sam_vit_small.pth", export_dir)
    out = subprocess.run(
        ["node", str(Path(__file__).with_name("wasm_profile.mjs")), str(export_dir), str(runs)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    # The trace is the stdout from its opening bracket on (Node may print warnings before it).
    events: list[dict[str, Any]] = json.loads(out.stdout[out.stdout.index("[") :])
    return [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]


def aggregate(nodes: list[dict[str, Any]], runs: int) -> dict[str, Any]:
    by_op: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[tuple[str, str]] = collections.Counter()
    for e in nodes:
        op = e["args"]["op_name"]
        shape = e["args"].get("output_type_shape") or [{}]
        dims = "x".join(str(d) for d in next(iter(shape[0].values()), []))
        by_op[op] += e["dur"]
        count[op] += 1
        by_node[(op, dims)] += e["dur"]
    total = sum(by_op.values())
    return {
        "total_ms": total / runs / 1000,
        "nodes": len(nodes) // runs,
        "ops": [(op, us / runs / 1000, count[op] // runs) for op, us in by_op.most_common()],
        "top": [(op, dims, us / runs / 1000) for (op, dims), us in by_node.most_common(12)],
    }


def markdown(res: dict[str, Any], command: str) -> str:
    total = res["total_ms"]
    lines = [
        HEAD,
        "",
        f"Command: `{command}`",
        "",
        f"Measured {res['date']} (load average {res['load']} on {os.cpu_count()} cores): "
        f"`decode.onnx` of sam_vit_small, one positive point, onnxruntime-web "
        f"1.30.0 wasm, one thread, onnxruntime's per-node profiler. Kernel time per prompt "
        f"{total:.1f} ms over {res['nodes']} nodes (the profiler itself adds some; read the "
        "shares, not the absolute figures).",
        "",
        "| operator | ms per prompt | share | nodes |",
        "| --- | --- | --- | --- |",
        *[f"| {op} | {ms:.1f} | {100 * ms / total:.0f}% | {n} |" for op, ms, n in res["ops"][:12]],
        "",
        "| largest nodes: operator | output shape | ms per prompt |",
        "| --- | --- | --- |",
        *[f"| {op} | {dims} | {ms:.1f} |" for op, dims, ms in res["top"]],
        "",
        *FINDINGS,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--export-dir", type=Path, default=OUT / "export")
    parser.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    res = aggregate(profile(args.export_dir, args.runs), args.runs)
    res["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["load"] = f"{os.getloadavg()[0]:.1f}"
    command = f".venv/bin/python -m bench.decoder.wasm_profile --runs {args.runs}"
    section = markdown(res, command)
    print(section)
    if args.write_results:
        write_results(section, head=HEAD)


if __name__ == "__main__":
    main()
