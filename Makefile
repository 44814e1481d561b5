# Two commands do all the set-up on a fresh machine (Python >= 3.11, make, bash):
#   make run    install what is missing, then start the tutoring app (default http://127.0.0.1:7860, offline)
#   make test   install what is missing, then run the linter, the whole test suite and the strict docs build
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 7860
PYTEST_ARGS ?=
SITE ?= site

.PHONY: run test lint install bench clean docs

install:
	@bash scripts/bootstrap.sh

run: install
	$(VENV)/bin/pedagraph ui --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir $(SITE)

docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(SITE)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(VENV)/bin/python evals/bench_model_layer.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(SITE)
