#!/usr/bin/env bash
# Wheels for bench/gpu_check.py on a bare GPU machine that can reach nothing (the device tool's
# H200: Python 3.12 with CUDA torch, torchvision, timm, numpy, pillow, opencv, onnx, onnxruntime,
# pyyaml, prometheus-client already there). Run here, in the repository's root, after `make
# install`:
#
#   bash bench/gpu_prepare.sh                       # writes .whl/ (ignored by git, ~15 MB)
#
# Then one device call, carrying .whl:
#
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#     --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site &&
#   PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --out $OUT
#
# The wheels are Meta's reference (`segment-anything`, and `mobilesam-mirror` for MobileSAM)
# and what the worker stage needs besides what the machine has (Django, Celery and their own
# needs), each at the version .venv runs here, without dependencies: a second numpy or torch on
# PYTHONPATH would shadow the machine's own.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PYTHON_VERSION=${PYTHON_VERSION:-3.12}
OUT=${OUT:-.whl}

# The project's dependencies that the GPU machine lacks, with theirs (tzdata: kombu's zoneinfo).
NAMES="amqp asgiref billiard celery click-didyoumean click-plugins click-repl dj-database-url
django djangorestframework drf-spectacular inflection jsonschema jsonschema-specifications kombu
prompt-toolkit pycocotools referencing rpds-py sqlparse tzdata tzlocal uritemplate vine wcwidth
whitenoise"
SPECS=$("$PY" - $NAMES <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

specs = []
for name in sys.argv[1:]:
    try:
        specs.append(f"{name}=={version(name)}")
    except PackageNotFoundError:
        specs.append(name)  # not in .venv (tzdata on Linux): the newest
print(" ".join(specs))
PY
)

rm -rf "$OUT" && mkdir -p "$OUT"
# shellcheck disable=SC2086
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$OUT" \
  --python-version "$PYTHON_VERSION" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  $SPECS segment-anything==1.0 mobilesam-mirror==1.0.0
ls "$OUT" | wc -l | xargs echo "wheels:"
du -sh "$OUT"
