# Two commands do all the set-up on a fresh machine (Python >= 3.11, make, bash):
#   make run    install what is missing, then start the tutoring app (default http://127.0.0.1:7860, offline)
#   make test   install what is missing, then run the linter and the whole test suite
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 7860
PYTEST_ARGS ?=

.PHONY: run test lint install bench clean

install:
	@bash scripts/bootstrap.sh

run: install
	$(VENV)/bin/pedagraph ui --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(VENV)/bin/python evals/bench_model_layer.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
