# The project's commands. `make test` is what CI runs (via .ci/run) on a fresh clone.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck unit suite crd demo demo-gateway bench clean system-deps image e2e-kind screenshot

# Two distributions, both editable: the product with its test extras, and the lab
# (lab/, distribution meshlab), which adds `rollout demo` and `rollout lab`.
$(STAMP): pyproject.toml lab/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./lab
	touch $@

## test: lint, type-check, check the layers, then run every test (the CI command)
test: lint typecheck suite

## system-deps: Prometheus from the distribution's packages, when missing and we are root
system-deps:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing prometheus from the distribution's packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
	  echo "prometheus is missing: sudo apt-get install prometheus (tests that need it will skip, or fail under CI=true)" >&2; \
	fi
	@# the dashboard's browser test: Debian's headless Chromium and its WebDriver
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver from the distribution's packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	else \
	  echo "chromium is missing: sudo apt-get install chromium chromium-driver (the dashboard's browser test will skip, or fail under CI=true)" >&2; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/shellcheck scripts/*.sh .ci/run
	$(VENV)/bin/actionlint -shellcheck $(VENV)/bin/shellcheck

typecheck: $(STAMP)
	$(PY) -m mypy

## unit: the unit tests and doctests alone (no servers; well under a minute)
unit: $(STAMP)
	$(PY) -m pytest tests/unit rollout strategies lab/meshlab -q

## suite: every test: unit, integration (real Prometheus, Helm, the emulator) and end to end,
## two files at a time (pytest-xdist): the end-to-end tests mostly wait on their servers;
## then the timing checks (marked `alone`) by themselves, with no neighbour on the two cores
suite: $(STAMP) system-deps
	$(PY) -m pytest -n 2 --dist loadfile --durations=25 -m "not alone"
	$(PY) -m pytest -m alone --durations=5

## screenshot: the README's pictures: the dashboard (docs/dashboard.png, from the browser test)
## and a release's Slack image (docs/release.png, from the notifications test)
screenshot: $(STAMP) system-deps
	DASHBOARD_SCREENSHOT=$(abspath docs/dashboard.png) RELEASE_PICTURE=$(abspath docs/release.png) \
	  $(PY) -m pytest tests/e2e/test_dashboard.py tests/e2e/test_notifications.py -q

## crd: regenerate the chart's CRD from the pydantic model
crd: $(STAMP)
	$(PY) -m rollout.crd

## demo: a healthy and a failing canary on the local mesh (real Envoy, real Prometheus)
demo: $(STAMP) system-deps
	$(PY) -m rollout demo

## demo-gateway: the same story on a Gateway API HTTPRoute with one Service per version
demo-gateway: $(STAMP) system-deps
	$(PY) -m rollout demo --gateway-api

## bench: every benchmark, full size (make test runs the quick versions)
bench: $(STAMP) system-deps
	$(PY) -m bench reaction --runs 10 --json bench/reaction.json
	$(PY) -m bench judge --json bench/judge.json
	$(PY) -m bench judge --promotion-table
	$(PY) -m bench scale --json bench/scale.json
	$(PY) -m bench scale-floor --json bench/scale-floor.json

## image: the controller image (needs Docker): make image IMAGE=registry.example.com/meshrollout:0.1.0
IMAGE ?= meshrollout:dev
image:
	docker build -t $(IMAGE) .

## e2e-kind: kind + Istio (istioctl) + the chart from an image built here; integration suite and real canaries (needs Docker)
e2e-kind: $(STAMP) system-deps
	PYTHON=$(abspath $(PY)) scripts/e2e-kind.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
