# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared
NIPS   := $(SHARED)/data/nips17-dev
export HARNESS_WEIGHTS_DIR ?= $(SHARED)/weights
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip's local package mirror warns about every missing folder: keep those lines out
QUIET  := 2>&1 | { grep -v '^WARNING: Location' || true; }

.PHONY: setup demo check test test-slow lint bench targets deploy-study clean

setup: $(VENV)/.installed

# Re-install when the project's dependencies, or how it is installed, change.
# editable_mode=compat: the checkout goes on sys.path (a .pth file), so that the package
# beats the checkout's own folder, a namespace package to Python when the clone is named
# harness and Python runs from the folder above it (setuptools' default editable finder
# comes after that folder: `python -m harness` there failed to import harness).
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat $(QUIET)
	$(PY) -c "import harness, torch, torchvision, lightning" && touch $@

# A first look (top-5 of three photos), then the lab study in a few minutes:
# squeezenet1_1 and timm's tf_efficientnet_lite0/1/2 with the shared real weights
# beside alexnet, vgg16 and resnet101 (random weights offline: speed and memory only).
# It ends with three commands to try next, each printed so that it works as it stands.
DEMO_MODELS ?= squeezenet1_1 timm/tf_efficientnet_lite0 timm/tf_efficientnet_lite1 \
               timm/tf_efficientnet_lite2 alexnet vgg16 resnet101
DEMO_LIMIT  ?= 50
DEMO_ARGS   ?= --batch-size 16
DEMO_RUN    := lightning_logs/compare/demo-$(shell date +%Y%m%d-%H%M%S)
DEMO_PHOTOS  = $$(ls $(NIPS)/images/*.png | head -3)
demo: setup
	@if [ -d "$(NIPS)" ]; then \
	  $(PY) -m harness predict $(DEMO_PHOTOS) --model squeezenet1_1 --no-progress && \
	  $(PY) -m harness compare --models $(DEMO_MODELS) --data $(NIPS)/images \
	    --labels $(NIPS)/labels.csv --limit $(DEMO_LIMIT) --output $(DEMO_RUN) $(DEMO_ARGS) && \
	  echo && echo "Three things to try next:" && \
	  echo "  # the top-5 classes of a photo (put the path of one of yours instead)" && \
	  echo "  $(PY) -m harness predict $$(ls $(NIPS)/images/*.png | head -1)" \
	    "--model squeezenet1_1 --weights-dir $(HARNESS_WEIGHTS_DIR)" && \
	  if [ -z "$$(find data -type f ! -name README.md ! -name labels.csv ! -name '.*' 2>/dev/null | head -1)" ]; \
	  then echo "  # put photos into data/ (labels, if any, into data/labels.csv: see data/README.md), then"; \
	  else echo "  # top-1/top-5 on your images in data/ (labels from data/labels.csv, if there)"; fi && \
	  echo "  $(PY) -m harness test --model squeezenet1_1 --weights-dir $(HARNESS_WEIGHTS_DIR)" && \
	  echo "  # the comparison just made, in TensorBoard (the HPARAMS tab compares the models)" && \
	  echo "  $(VENV)/bin/tensorboard --logdir $(DEMO_RUN)"; \
	else \
	  echo "$(NIPS) is absent: point the harness at your own images, e.g."; \
	  echo "  $(PY) -m harness predict photo.jpg --model squeezenet1_1 --weights FILE.pth"; \
	  echo "  $(PY) -m harness compare --models $(DEMO_MODELS) --data DIR [--labels CSV]"; \
	fi

lint: setup
	$(PY) -m ruff check harness tests benchmarks scripts
	$(PY) -m ruff format --check harness tests benchmarks scripts
	$(PY) -m mypy harness

# The edit-test loop: lint and the unit tests (tests/unit), in two workers: each imports
# torch and the libraries first, yet on 2 cores two are faster than one (docs/development.md).
check: lint
	$(PY) -m pytest -q -n 2 --dist loadfile tests/unit

# Everything: tests/unit and tests/e2e. Two workers even on 2 cores: much of the suite waits
# on subprocesses starting up (figures: docs/development.md). A file runs whole in one
# worker, so each module fixture runs once; session fixtures are shared (tests/conftest.py).
# A worker that dies ends the run at once, naming its test: pytest-xdist 3.8's loadfile
# scheduler can hang for good after replacing a crashed worker (pytest-xdist#1378).
TEST_WORKERS ?= 2
test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --max-worker-restart 0

test-slow: setup
	$(PY) -m pytest -q -m slow || [ $$? -eq 5 ]  # 5: no test is marked slow

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Per-image latency and memory per model (pytest-benchmark; see benchmarks/README.md).
bench: setup
	$(PY) -m pytest benchmarks/ --benchmark-autosave

# The speed targets of benchmarks/README.md, measured side by side.
targets: setup
	$(PY) benchmarks/targets.py

# The deployment study (docs/runtimes.md): the four real-weight models in torch fp32 and
# bf16, ONNX Runtime and OpenVINO in fp32 and int8 on the nips17-dev photos (100 set aside
# to calibrate int8, the other 400 evaluated in every row), side by side; on a quiet
# machine (it takes a while). DEPLOY_LIMIT=50 for a first look.
DEPLOY_MODELS ?= squeezenet1_1 timm/tf_efficientnet_lite0 timm/tf_efficientnet_lite1 \
                 timm/tf_efficientnet_lite2
DEPLOY_RUNTIMES ?= @torch:bf16 @onnxruntime @openvino @onnxruntime:int8 @openvino:int8
DEPLOY_LIMIT ?=
DEPLOY_ARGS ?= --batch-size 16 --threads $$(nproc)
DEPLOY_RUN  ?= benchmarks/results/deploy
deploy-study: setup
	$(PY) -m harness compare \
	  --models $(foreach m,$(DEPLOY_MODELS),$(m) $(addprefix $(m),$(DEPLOY_RUNTIMES))) \
	  --data $(NIPS)/images --labels $(NIPS)/labels.csv \
	  $(if $(DEPLOY_LIMIT),--limit $(DEPLOY_LIMIT)) --output $(DEPLOY_RUN) $(DEPLOY_ARGS)
