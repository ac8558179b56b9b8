# Two commands do all set-up on a fresh machine (Python 3.11 and Java 17 present):
#   make demo   - the whole lake on the embedded local default, with a summary
#   make test   - lint, registry gate and the test suite (what CI runs)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/python -m lake_assets.transforms.spark_session  # Spark's Iceberg + JDBC jars into ~/.ivy2.5.2
	touch $@

.PHONY: install demo test dev bench lock synth infra-tools
install: $(BIN)/.installed

# checkov's pins clash with the lake's: its own venv (infra/install-tools.sh, infra/requirements-tools.lock)
INFRA_TOOLS := infra/.venv-tools/.installed
$(INFRA_TOOLS): infra/requirements-tools.lock infra/install-tools.sh
	PYTHON=$(PYTHON) infra/install-tools.sh
infra-tools: $(INFRA_TOOLS)

demo: install
	$(BIN)/lake demo

test: install $(INFRA_TOOLS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lake schemas check
	$(BIN)/pytest -q -p no:cacheprovider

dev: install
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

synth: install
	$(BIN)/lake package lambda
	$(BIN)/lake package glue
	$(BIN)/python infra/app.py
	$(BIN)/cfn-lint infra/cdk.out/*.template.json

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
