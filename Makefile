# One command each: `make run` installs everything and serves the default demo, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := webxr_client/node_modules/.installed
CLIENT := vizserver/static/index.html
CLIENT_SOURCES := $(wildcard webxr_client/src/*.js webxr_client/src/*.css) webxr_client/index.html webxr_client/vite.config.js

.PHONY: install check test run demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): webxr_client/package.json webxr_client/package-lock.json
	cd webxr_client && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(CLIENT): $(NODE_STAMP) $(CLIENT_SOURCES)
	cd webxr_client && npm run build

install: $(STAMP) $(NODE_STAMP) $(CLIENT)

check: install
	$(BIN)/ruff check vizserver tests benchmarks
	$(BIN)/mypy

test: install
	$(BIN)/pytest -q

run: install
	$(BIN)/vizserver serve

demo: install
	$(BIN)/vizserver inspect assets/lv.pts
	$(BIN)/vizserver convert assets/lv.pts -o build/lv.glb

bench: install
	$(BIN)/python benchmarks/convert.py

clean:
	rm -rf $(VENV) webxr_client/node_modules build vizserver/static
