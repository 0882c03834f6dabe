# Gamma — two commands: `make up` runs it, `make test` tests it. Both set up what they need, once.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLAUDE_VERSION := $(shell cat tests/claude-cli-version)
CLAUDE_DIR := .tools/claude-$(CLAUDE_VERSION)
CLAUDE := $(CLAUDE_DIR)/node_modules/.bin/claude
INSTALLED := $(VENV)/.installed

.PHONY: up test setup claude lint bench clean

up: setup
	$(BIN)/gamma up

test: setup claude
	GAMMA_TEST_CLAUDE_BIN=$(abspath $(CLAUDE)) $(BIN)/pytest $(PYTEST_ARGS)

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

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/events.py
	$(BIN)/python bench/runs.py

clean:
	rm -rf $(VENV) .tools .gamma-test
