# Works on a fresh machine with only Python 3.11 and make: the first target that needs the
# virtual environment builds it (pip bootstraps uv, uv installs the project).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint fmt bench clean checkov

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/endpointctl quickstart --backend process
	$(BIN)/endpointctl

lint: install
	$(BIN)/ruff check endpointctl tests bench assets
	$(BIN)/ruff format --check endpointctl tests bench assets
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format endpointctl tests bench assets
	$(BIN)/ruff check --fix endpointctl tests bench assets

test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

# checkov (tests/backends/kubernetes/test_checkov.py) pins many packages of its own: it lives in its own
# virtual environment, never in $(VENV). The version is pinned so a new checkov release cannot fail CI by itself.
CHECKOV_VENV    ?= /opt/checkov
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): | install
	$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python "checkov==$(CHECKOV_VERSION)"
	touch $(CHECKOV_STAMP)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
