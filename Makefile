# Two commands set up a fresh machine (Python 3.11, Node 20, Debian):
#   make demo   the app with demo data on embedded defaults, at http://127.0.0.1:8000/
#   make test   every test: Python, lint, types, browser; then the integration tests again
#               against PostgreSQL and Redis
# Both are idempotent: the stamps below make a second run reuse what the first installed.

PYTHON ?= python3
VENV ?= .venv
# A CPU build on local disk; a plain `torch` would pull several GB of CUDA. Override with e.g.
# TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124" on a GPU server.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,postgres,redis,s3,worker
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000

# Text prompts (SAM 3's processor) run on torchvision's compiled ops, which need the torch they were
# built for; PyPI pairs torchvision 0.29.1 with its CUDA torch 2.14.1 (about 5 GB, and it runs on a
# CPU). Their tests get a venv of their own so the rest of the suite keeps the CPU build.
TEXT_VENV ?= .venv-text
TEXT_TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
TEXT_INSTALLED := $(TEXT_VENV)/.installed
NODE_MODULES := frontend/node_modules/.installed
FRONTEND_BUILT := frontend/dist/.built
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/build.mjs

.PHONY: demo test install frontend chromium lint types pytest test-text test-integration bench clean \
	test-ultralytics

# Development mode: plain HTTP and a fixed secret key, fine on loopback and nowhere else
# (DEBUG stays off; DJANGO_DEBUG=true make demo turns Django's debug pages on).
demo: install frontend
	DJANGO_ENV=dev $(PY) manage.py migrate --noinput
	DJANGO_ENV=dev $(PY) manage.py demo --host $(DEMO_HOST) --port $(DEMO_PORT)

test: install frontend chromium lint types pytest test-text test-integration

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

# Ultralytics (AGPL) for one test only, tests/formats/test_yolo_ultralytics.py: never a dependency
# of the product. --no-deps because its requirements would pull another torch and torchvision
# build and opencv-python beside our headless OpenCV; its dataset loader needs only matplotlib
# more, and torchvision's version metadata (its compiled ops, built for another torch, never load).
ULTRALYTICS_SPEC ?= ultralytics==8.4.*
ULTRALYTICS := $(VENV)/.ultralytics

test-ultralytics: $(ULTRALYTICS)

$(ULTRALYTICS): $(INSTALLED)
	$(PY) -m pip install --quiet "matplotlib>=3.3"
	$(PY) -m pip install --quiet --no-deps "$(ULTRALYTICS_SPEC)" torchvision
	touch $@

frontend: $(FRONTEND_BUILT)

$(NODE_MODULES): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

$(FRONTEND_BUILT): $(NODE_MODULES) $(FRONTEND_SOURCES)
	cd frontend && npm run build
	touch $@

# Debian's Chromium for the browser tests; Playwright drives it and never downloads a browser.
chromium:
	@command -v chromium >/dev/null || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

pytest: install frontend chromium test-ultralytics
	$(BIN)/pytest
	@if ls frontend/tests/*.test.js >/dev/null 2>&1; then cd frontend && npm test; fi

$(TEXT_INSTALLED): pyproject.toml
	test -x $(TEXT_VENV)/bin/python || $(PYTHON) -m venv $(TEXT_VENV)
	$(TEXT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TEXT_VENV)/bin/python -m pip install --quiet $(TEXT_TORCH_SPEC)
	$(TEXT_VENV)/bin/python -m pip install --quiet -e ".[dev,worker,text]"
	touch $@

test-text: $(TEXT_INSTALLED)
	$(TEXT_VENV)/bin/pytest tests/text -p no:randomly

# The tests marked `integration` once more, on PostgreSQL and Redis instead of SQLite and the
# embedded broker (pytest exits 5 when none is marked, which is not a failure).
test-integration: install
	bash tests/services.sh $(BIN)/pytest -m integration -p no:randomly; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no integration tests"; exit 0; fi; exit $$rc

bench: install frontend chromium
	@echo "See bench/RESULTS.md for each benchmark's command."

clean:
	rm -rf $(VENV) $(TEXT_VENV) frontend/node_modules frontend/dist var artifacts
