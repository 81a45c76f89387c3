# The single entry point of the course: set-up, the lab, tests and benchmarks.
# Every target builds (once) and reuses the virtual environment .venv, made from the
# pinned binder/ requirements, so what Binder installs is what the tests run on.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hlmteach-installed
LAB_STAMP := $(VENV)/.hlmteach-lab
PORT   ?= 8888
# Where 'make student' writes the learners' copy of the course (git-ignored).
STUDENT ?= student
# The pins need Python 3.11.5 to 3.13: say so before pip prints a wall of resolver errors.
PYTHON_OK := import sys; sys.exit(not (3, 11, 5) <= sys.version_info[:3] < (3, 14))
# JupyterLab refuses to start as root unless told that it is meant.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup lab test lint bench execute browser wheel freeze clean frame student site

setup: $(STAMP)

## The course's environment: Binder's pins and the package, without the test tools.
$(LAB_STAMP): binder/requirements.txt binder/jupyter_server_config.json pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -c '$(PYTHON_OK)' || { \
	  echo "The course needs Python 3.11.5 to 3.13; $(PYTHON) is $$($(PYTHON) --version 2>&1)." >&2; \
	  echo "Run 'make lab PYTHON=python3.12' (or another version in that range)." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r binder/requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python binder/install_jupyter_config.py
	$(BIN)/jupyter labextension list 2>&1 | grep -q "@jupyter-widgets/jupyterlab-manager.*enabled"
	$(BIN)/jupyter labextension list 2>&1 | grep -q "jupyterlab-rise.*enabled"
	touch $@

## The same environment plus the pinned test tools.
$(STAMP): $(LAB_STAMP) tests/requirements.txt
	$(BIN)/python -m pip install -r binder/requirements.txt -r tests/requirements.txt
	touch $@

## Open the course in JupyterLab at the first notebook.
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) --port=$(PORT) --ServerApp.root_dir=. \
	  --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb

## Run the whole test suite: unit, data, engine, notebooks (nbval), the student copy, the
## website and the browser tests (the explorer, the whole course, a slide, the site).
test: $(STAMP) browser
	$(BIN)/python -m ruff check hlmteach tests scripts
	$(BIN)/python -m pytest

## Debian's Chromium drives the browser test; install it when missing (needs root and apt).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser test needs Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'." >&2; exit 1; \
	  fi; }

lint: $(STAMP)
	$(BIN)/python -m ruff check hlmteach tests scripts
	$(BIN)/python -m ruff format --check hlmteach tests scripts

## Time the engine against statsmodels (and lme4 when R is installed).
bench: $(STAMP)
	$(BIN)/python scripts/benchmark.py

## Execute every notebook in place, top to bottom in a fresh kernel, printing each one's time.
execute: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py

## Give every notebook its frame: Binder link at the release tag, shut-down note, slide metadata.
frame: $(STAMP)
	$(BIN)/python scripts/course_frame.py

## The learners' copy: the notebooks without outputs, solutions or published answers.
student: $(LAB_STAMP)
	$(BIN)/python scripts/student_copy.py $(STUDENT)

## The course website (Jupyter Book, offline, stored outputs): book/_build/html/index.html.
site: $(STAMP)
	$(BIN)/python scripts/build_site.py

wheel: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

## Re-pin binder/requirements.txt from the top-level pins (run after changing one).
freeze:
	rm -rf /tmp/hlmteach-freeze && $(PYTHON) -m venv /tmp/hlmteach-freeze
	/tmp/hlmteach-freeze/bin/pip install $$(grep -E '^(numpy|scipy|pandas|statsmodels|matplotlib|seaborn|ipywidgets|jupyterlab|jupyterlab_rise|tqdm|threadpoolctl|pyreadstat|patsy)==' binder/requirements.txt)
	/tmp/hlmteach-freeze/bin/pip freeze

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache book/_build $(STUDENT)
