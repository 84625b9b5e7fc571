# Fine-tuning Embeddings workbook. `make run` executes every lesson; `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup run test lab record times clean workshop workshop-check

help:
	@echo "make run      create .venv if needed, execute every notebook into build/, gather results"
	@echo "make test     create .venv if needed, unit tests + notebook lint + smoke runs + nbval"
	@echo "make lab      JupyterLab on notebooks/ with the workbook's kernel"
	@echo "make record   re-execute the notebooks in place (cpu profile) so committed outputs are true,"
	@echo "              store their run times in notebooks/run_times.json, then make times"
	@echo "make times    write every stated run time (notebook headers, README, INSTRUCTORS) from the JSON"
	@echo "make workshop wheelhouse + model + data caches for an offline room (see INSTRUCTORS.md)"
	@echo "make clean    remove build/ and the data caches"

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[lab,test]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m tools.pipeline run

# Unit tests, notebook lint, a papermill run of every notebook (smoke profile), then nbval on the
# cells marked NBVAL_CHECK_OUTPUT. Results go to build/test-results.json, never over `make run`'s.
test: $(STAMP)
	WORKBOOK_PROFILE=smoke WORKBOOK_RESULTS=build/test-results.json \
		$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider \
		tests notebooks/[0-9]*.ipynb

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

record: $(STAMP)
	$(BIN)/python -m tools.pipeline record $(NOTEBOOKS)
	$(BIN)/python -m tools.pipeline times

# The run times in the notebooks' "How long it takes" lines, README.md and INSTRUCTORS.md, from
# notebooks/run_times.json only (tests/test_run_times.py fails when they disagree).
times: $(STAMP)
	$(BIN)/python -m tools.pipeline times

workshop: $(STAMP)
	$(BIN)/python -m tools.workshop prepare $(WORKSHOP_ARGS)

# Proves the workshop folder: a fresh venv installed from it with pip's index and config switched off.
workshop-check: $(STAMP)
	$(BIN)/python -m tools.workshop check

clean:
	rm -rf build data/cache .pytest_cache
