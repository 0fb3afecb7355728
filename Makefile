# Set-up on a fresh machine: `make studio` launches the app, `make test` runs the whole suite.
# Both create .venv when it is missing. PYTHON may name another interpreter (3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: studio test lint screenshots bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# Use a torch wheel that pip's find-links already provides locally (e.g. a CPU build), if there is one;
	# otherwise the next line installs torch from the package index as usual.
	-$(BIN)/python -m pip install --quiet --no-index --no-deps 'torch>=2.4' 2>/dev/null
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

studio: $(STAMP)
	$(BIN)/minigpt-studio

test: $(STAMP) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check engine studio tests bench

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m studio.screenshots --out docs/images

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py

clean-venv:
	rm -rf $(VENV)
