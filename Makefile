# Two set-up commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/quittance demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Numbers are printed with the command that produced them; nothing is asserted.
bench: $(STAMP)
	$(BIN)/python bench/render.py
	$(BIN)/python bench/pipeline.py --orders 1000 --db both
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) var
