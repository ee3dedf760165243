# One command each: `make demo` installs and runs the demo, `make test` installs and runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := webxr_client/node_modules/.installed

.PHONY: install check test demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): webxr_client/package.json webxr_client/package-lock.json
	cd webxr_client && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

check: install
	$(BIN)/ruff check vizserver tests benchmarks
	$(BIN)/mypy

test: install
	$(BIN)/pytest -q

demo: install
	$(BIN)/vizserver inspect assets/lv.pts
	$(BIN)/vizserver convert assets/lv.pts -o build/lv.glb

bench: install
	$(BIN)/python benchmarks/convert.py

clean:
	rm -rf $(VENV) webxr_client/node_modules build
