# Two set-up commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-clock lint bench clean

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

# The suite with every Python process's wall clock moved (tests/clock_shift/sitecustomize.py):
# 45 and 400 days ahead; from 31 December 23:58, and 75 s later so that midnight falls mid-run;
# from 01:59 on the last Sunday of March (the DST jump), Paris time. PostgreSQL's own clock
# cannot be moved, so its tests sit this one out.
CLOCKS ?= +45d +400d new-year new-year+75s dst
test-clock: $(STAMP)
	set -e; for clock in $(CLOCKS); do \
	  echo "== clock: $$clock"; \
	  TEST_CLOCK=$$clock PYTHONPATH=$(CURDIR)/tests/clock_shift $(BIN)/pytest -n 2 -q \
	    -p no:cacheprovider -p no:time_machine -W ignore::pytest.PytestAssertRewriteWarning \
	    -m "not postgres"; \
	done

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
