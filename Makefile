# Two commands do all set-up on a fresh machine:
#   make demo   install artlens and predict art styles with the built-in model (no data, no network)
#   make test   install artlens with its test extras and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test browser screenshot bench default-model adain-model cyclegan-model detector clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"

demo: install
	$(BIN)/artlens predict src/artlens/assets/examples --top-k 3

# The web page is tested in a real browser: Debian's chromium (no browser download; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: install-test browser
	$(BIN)/python -m pytest -q

# The README's picture of the web page, taken by the browser test.
screenshot: install-test browser
	ARTLENS_SCREENSHOT=docs/img/web.png $(BIN)/python -m pytest -q tests/serve/test_browser.py

bench: install
	$(BIN)/python benchmarks/frozen_cache.py
	$(BIN)/python benchmarks/predict_throughput.py
	$(BIN)/python benchmarks/default_model_predict.py
	$(BIN)/python benchmarks/fold_batchnorm.py
	$(BIN)/python benchmarks/profile_speed.py
	$(BIN)/python benchmarks/profile_scale.py
	$(BIN)/python benchmarks/distributed_predict.py
	$(BIN)/python benchmarks/probe_speed.py
	$(BIN)/python benchmarks/cam_speed.py
	$(BIN)/python benchmarks/style_speed.py
	$(BIN)/python benchmarks/gatys_estimate.py
	$(BIN)/python benchmarks/adain_speed.py
	$(BIN)/python benchmarks/serve_load.py

default-model: install
	$(BIN)/python scripts/train_default_model.py --ship

# The built-in AdaIN decoder (CPU recipe; add ARGS="--gpu --device cuda" on a GPU), then its figures.
adain-model: install
	$(BIN)/python scripts/train_adain_model.py --ship $(ARGS)
	$(BIN)/python scripts/adain_figures.py

# The built-in photo -> Impressionism CycleGAN (ARGS="--gpu --device cuda" for the paper's sizes on a GPU).
cyclegan-model: install
	$(BIN)/python scripts/train_cyclegan_model.py --ship $(ARGS)

# The built-in Human-or-AI detector (add DEVICE=cuda on a GPU: the same recipe).
detector: install
	$(BIN)/python scripts/train_detector.py --ship --device $(or $(DEVICE),auto)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
