# Set-up on a fresh machine: `make studio` launches the app, `make test` runs the whole suite.
# Both create .venv when it is missing. PYTHON may name another interpreter (3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: studio test lint screenshots bench clean-venv i18n i18n-update

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# Use a torch wheel that pip's find-links already provides locally (e.g. a CPU build), if there is one;
	# otherwise the next line installs torch from the package index as usual.
	-$(BIN)/python -m pip install --quiet --no-index --no-deps 'torch>=2.4' 2>/dev/null
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

studio: $(STAMP) i18n
	$(BIN)/minigpt-studio

test: $(STAMP) lint i18n
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check engine studio tests bench

screenshots: $(STAMP) i18n
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m studio.screenshots --out docs/images
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m studio.screenshots --out docs/images --lang zh

# Compiled translations (.qm, never checked in) from the .ts sources; see studio/i18n.py for the workflow.
TS := $(wildcard studio/i18n/*.ts)
i18n: $(TS:.ts=.qm)
studio/i18n/%.qm: studio/i18n/%.ts $(STAMP)
	$(BIN)/pyside6-lrelease -silent $< -qm $@

# Add new source strings of the studio to the .ts files (then: python -m studio.i18n_missing lists what to translate).
i18n-update: $(STAMP)
	$(BIN)/pyside6-lupdate -extensions py -no-obsolete -locations none -target-language zh_CN studio -ts $(TS)

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py

clean-venv:
	rm -rf $(VENV)
