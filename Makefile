# Fine-tuning Embeddings workbook. `make run` executes every lesson; `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup browser run test lab record times gpu-check set-repo-url clean workshop workshop-check

help:
	@echo "make run      create .venv if needed, execute every notebook into build/, gather results"
	@echo "make test     create .venv if needed, unit tests + notebook lint + smoke runs + nbval"
	@echo "make lab      JupyterLab on notebooks/ with the workbook's kernel"
	@echo "make record   re-execute the notebooks in place (cpu profile) so committed outputs are true,"
	@echo "              store their run times in notebooks/run_times.json, then make times"
	@echo "make times    write every stated run time (notebook headers, README, INSTRUCTORS) from the JSON"
	@echo "make gpu-check  every lesson in the gpu profile on a CUDA GPU into build/gpu/, times stored"
	@echo "make set-repo-url URL=https://github.com/OWNER/NAME  the one repository URL: pyproject,"
	@echo "              every Colab badge and setup cell"
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

# Chromium for tests/test_browser.py: Debian's package, installed with apt where make runs as root
# (CI); elsewhere, without Chromium, the browser tests are skipped and say why (in CI they fail).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser test (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium >/dev/null; \
	else \
		echo "No Chromium here: tests/test_browser.py will be skipped (install chromium to run it)"; \
	fi

# Unit tests, notebook lint, the widgets in a real browser, a papermill run of every notebook (smoke
# profile), then nbval on the cells marked NBVAL_CHECK_OUTPUT. Results go to
# build/test-results.json, never over `make run`'s. --durations lists the 25 slowest tests at the end
# (where CI's time goes).
test: $(STAMP) browser
	WORKBOOK_PROFILE=smoke WORKBOOK_RESULTS=build/test-results.json \
		$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider \
		--durations=25 \
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

# Every lesson in the gpu profile on a CUDA GPU (refuses without one), into build/gpu/; each
# notebook's time goes to notebooks/run_times.json with the GPU's name. NOTEBOOKS= picks some.
gpu-check: $(STAMP)
	$(BIN)/python -m tools.pipeline gpu-check $(NOTEBOOKS)

# The repository URL is one setting: this rewrites pyproject.toml, every Colab badge and setup cell.
set-repo-url: $(STAMP)
	@test -n "$(URL)" || { echo "usage: make set-repo-url URL=https://github.com/OWNER/NAME"; exit 2; }
	$(BIN)/python -m tools.colab set-repo-url $(URL)

workshop: $(STAMP)
	$(BIN)/python -m tools.workshop prepare $(WORKSHOP_ARGS)

# Proves the workshop folder: a fresh venv installed from it with pip's index and config switched off.
workshop-check: $(STAMP)
	$(BIN)/python -m tools.workshop check

clean:
	rm -rf build data/cache .pytest_cache
