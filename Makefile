# make setup: create .venv if missing and install funnel with its test extras.
# make demo:  setup, then the whole funnel end to end on synthetic data (funnel generate,
#             then funnel build).
# make test:  setup, then the test suite on TEST_WORKERS processes (pytest-xdist, one
#             test file per process; TEST_WORKERS=0 runs it in this process).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
TEST_WORKERS ?= 2

.PHONY: setup demo test bench browser clean

setup: $(STAMP) browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's Chromium for the demo page's end-to-end test (root only; skipped
# with a message when it cannot be installed, e.g. without root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium"; \
	  else echo "warning: chromium missing and not root: browser tests will fail"; fi; }

demo: setup
	$(BIN)/python -m funnel.demo --out $(DEMO_DIR)

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
