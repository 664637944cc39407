# certsoar: `make demo` runs both stories on the bundled lab; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_HOME ?= .certsoar-demo

.PHONY: demo test bench manifest clean

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "certsoar needs Python 3.11 or newer ($(PYTHON) is older)"; exit 2; }
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv"; exit 2; }
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=68" wheel
	@touch $@

$(VENV)/.installed: $(VENV)/.python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	rm -rf $(DEMO_HOME)
	$(BIN)/certsoar demo --state-dir $(DEMO_HOME)

test: $(VENV)/.installed-test
	$(BIN)/certsoar manifest --check
	$(BIN)/certsoar validate
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/service.py

manifest: $(VENV)/.installed
	$(BIN)/certsoar manifest

clean:
	rm -rf $(VENV) $(DEMO_HOME) .certsoar .pytest_cache build *.egg-info
