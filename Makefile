# Gamma — two commands: `make up` runs it, `make test` tests it. Both set up what they need, once.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLAUDE_VERSION := $(shell cat tests/claude-cli-version)
CLAUDE_DIR := .tools/claude-$(CLAUDE_VERSION)
CLAUDE := $(CLAUDE_DIR)/node_modules/.bin/claude
CODEX_VERSION := $(shell cat tests/codex-cli-version)
CODEX_DIR := .tools/codex-$(CODEX_VERSION)
CODEX := $(CODEX_DIR)/node_modules/.bin/codex
INSTALLED := $(VENV)/.installed
# `make test-cli-latest`: the CLI-facing tests (marker `cli`) against the newest releases on the npm registry.
LATEST_DIR := .tools/latest
CLI_TESTS := -m cli
# `make test-fast`: only the tests that start no real processes (no gunicorn, workers, CLIs, browser; marker `slow`
# and conftest.py say which), for the edit-and-test loop, in two processes (pytest-xdist); no CLIs to install.
FAST_TESTS := -m "not slow" -n 2

.PHONY: up test test-fast test-cli-latest setup claude codex lint bench clean screenshot

up: setup
	$(BIN)/gamma up

test: setup claude codex
	GAMMA_TEST_CLAUDE_BIN=$(abspath $(CLAUDE)) GAMMA_TEST_CODEX_BIN=$(abspath $(CODEX)) $(BIN)/pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest $(FAST_TESTS) $(PYTEST_ARGS)

# The README's screenshot (docs/screenshot.png), taken by the layout test of the team page at 1280 px.
screenshot: setup
	GAMMA_SCREENSHOT_DIR=$(abspath docs) $(BIN)/pytest -q tests/test_ui_layout.py -k "fits and 1280"

test-cli-latest: setup
	rm -rf $(LATEST_DIR) && mkdir -p $(LATEST_DIR)
	npm install --silent --no-audit --no-fund --prefix $(LATEST_DIR) @anthropic-ai/claude-code@latest @openai/codex@latest
	$(LATEST_DIR)/node_modules/.bin/claude --version
	$(LATEST_DIR)/node_modules/.bin/codex --version
	GAMMA_TEST_CLAUDE_BIN=$(abspath $(LATEST_DIR))/node_modules/.bin/claude \
	GAMMA_TEST_CODEX_BIN=$(abspath $(LATEST_DIR))/node_modules/.bin/codex \
	$(BIN)/pytest $(CLI_TESTS) $(PYTEST_ARGS)

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Gamma needs Python 3.11+"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

claude: $(CLAUDE)

$(CLAUDE): tests/claude-cli-version
	mkdir -p $(CLAUDE_DIR)
	npm install --silent --no-audit --no-fund --prefix $(CLAUDE_DIR) @anthropic-ai/claude-code@$(CLAUDE_VERSION)
	$(CLAUDE) --version

codex: $(CODEX)

$(CODEX): tests/codex-cli-version
	mkdir -p $(CODEX_DIR)
	npm install --silent --no-audit --no-fund --prefix $(CODEX_DIR) @openai/codex@$(CODEX_VERSION)
	$(CODEX) --version

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup claude
	$(BIN)/python bench/events.py
	$(BIN)/python bench/runs.py
	$(BIN)/python bench/ui_views.py
	$(BIN)/python bench/cli_stream.py
	$(BIN)/python bench/viewers.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/agent_call.py
	$(BIN)/python bench/footprint.py
	$(BIN)/python bench/round.py

clean:
	rm -rf $(VENV) .tools .gamma-test
