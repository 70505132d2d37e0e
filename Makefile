# The two commands of the README: `make quick` (the main job) and `make test` (what CI runs).
# Both set everything up first: a virtual environment with the package, its Jupyter kernel, FashionMNIST, tcmalloc,
# and what the documentation site and the browser tests need (Sphinx, Playwright, chromium, MathJax).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION := /usr/share/datasets/fashion-mnist
MATHJAX := $(VENV)/node_modules/mathjax/es5
# JupyterLab as `make lab` starts it (tests/test_browser.py starts the same, reading these two lines): on the repository,
# so that the notebooks' images of figures/ show, opened at nbs/index.ipynb; in the venv's settings, no prompt to fetch
# news and no update check (JupyterLab's own overrides.json, for every JupyterLab this venv runs)
LAB_ARGS := --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/nbs/index.ipynb
LAB_OVERRIDES := {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: setup data slurm quick test sync readme results lint docs nbtest pytest benchcheck bench lab
setup: $(STAMP) data $(MATHJAX)/tex-mml-chtml.js $(LAB_SETTINGS)

$(STAMP): setup.py settings.ini
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip uninstall -qq -y cleverhans torchattacks  # a rerun: pip would check the next installs against their pins
	$(BIN)/python -m pip install -q -e '.[dev,examples]' scipy
	@# last, without their dependencies (and so without pip's check of them, which would print an ERROR): cleverhans, the
	@# reference FGM for the tests (its torch part needs only torch; it pins tensorflow-probability); torchattacks, EOTPGD
	@# for the benchmark only (its requests~=2.25 pin would break jupyterlab)
	$(BIN)/python -m pip install -q --no-deps cleverhans==4.0.0 torchattacks==3.5.1
	$(BIN)/python -m ipykernel install --sys-prefix --name snn_robust --display-name 'snn_robust' --env LD_PRELOAD libtcmalloc_minimal.so.4 >/dev/null
	@# the kernel's own log at errors only: papermill run by hand (TCP, unlike `snn-robust`'s Unix sockets) would print
	@# ipykernel's warning that TCP is not encrypted, harmless on one machine, alarming to read
	$(BIN)/python -c "import json, sys; p = sys.prefix + '/share/jupyter/kernels/snn_robust/kernel.json'; k = json.load(open(p)); k['argv'] += ['--IPKernelApp.log_level=ERROR']; json.dump(k, open(p, 'w'), indent=1)"
	touch $@

$(LAB_SETTINGS): Makefile | $(STAMP)
	mkdir -p $(@D) && echo '$(LAB_OVERRIDES)' > $@

# Debian's packages, those missing: FashionMNIST, tcmalloc (the allocator `snn-robust` and the project's kernel run on),
# chromium (the browser tests) and npm (MathJax for the documentation site; left alone where npm comes from elsewhere)
data:
	@missing="$$(test -d $(FASHION) || echo dataset-fashion-mnist; \
	/sbin/ldconfig -p | grep -q libtcmalloc_minimal.so.4 || echo libtcmalloc-minimal4; \
	test -x /usr/bin/chromium || echo chromium; command -v npm >/dev/null || echo npm)"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

# MathJax 3, served with the documentation site (an offline site cannot load it from a CDN)
$(MATHJAX)/tex-mml-chtml.js: | data
	npm install --no-save --no-audit --no-fund --prefix $(VENV) mathjax@3 >/dev/null

# Debian's SLURM and munge, for the test that starts a single-node SLURM and runs the smoke profile through dask-jobqueue
slurm:
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends slurm-wlm munge; }

quick: setup
	$(BIN)/snn-robust reproduce --profile quick

test: setup slurm sync lint docs nbtest pytest benchcheck

# nbdev_export / nbdev_clean / make readme must not change anything: the notebooks are the source of the package and README.
sync: $(STAMP)
	@before="$$(git status --porcelain -- snn_robust nbs README.md; git diff -- snn_robust nbs README.md | sha1sum)"; \
	$(BIN)/nbdev_export && $(MAKE) -s results && $(BIN)/nbdev_clean && $(MAKE) -s readme; \
	after="$$(git status --porcelain -- snn_robust nbs README.md; git diff -- snn_robust nbs README.md | sha1sum)"; \
	if [ "$$before" != "$$after" ]; then echo "nbdev_export/make results/nbdev_clean/make readme changed files: run them and commit notebooks, package and README"; git status --short -- snn_robust nbs README.md; exit 1; fi

# the section notebooks' cells tagged `paper-results`: what the committed figures/paper report says of their claims
results: $(STAMP)
	$(BIN)/python -c "from snn_robust.publish import fill_results; [print('filled', p) for p in fill_results()]"

# README.md is nbs/index.ipynb as Markdown
readme: $(STAMP)
	$(BIN)/python -c "import pathlib; from snn_robust.outputs import notebook_markdown; pathlib.Path('README.md').write_text(notebook_markdown('nbs/index.ipynb'))"

# ruff (pyproject.toml: lines of at most 120, pyflakes) on the package, the notebooks' code and docs/; nbdev writes each
# module's `__all__` itself (its first line can pass 120), so the package's line check skips that one generated line
lint: $(STAMP)
	$(BIN)/ruff check snn_robust nbs docs
	$(BIN)/ruff check --ignore E501 tests
	@long="$$(ls snn_robust/*.py | grep -v _modidx | xargs awk 'length > 120 && !/^__all__ = /')"; if [ -n "$$long" ]; then echo "lines over 120 in snn_robust/:"; echo "$$long"; exit 1; fi

# the documentation site in _docs/, from the notebooks with the outputs they carry (none is run), the reports and the
# docstrings; offline, and any warning (a broken link or image included) fails it. docs/prepare.py says what goes in.
# Built in _proc/ (myst-nb writes a jupyter_execute/ folder beside its output), then moved.
docs: setup
	rm -rf _docs _proc/docs _proc/doctrees _proc/site _proc/jupyter_execute
	$(BIN)/python docs/prepare.py _proc/docs --mathjax $(MATHJAX)
	$(BIN)/sphinx-build -W --keep-going -q -b html -d _proc/doctrees _proc/docs _proc/site
	mv _proc/site _docs
	@echo "the site: _docs/index.html ($$(find _docs -name '*.html' -not -path '_docs/_static/*' | wc -l) pages)"

nbtest: setup
	$(BIN)/nbdev_test --flags slow

pytest: setup docs
	$(BIN)/python -m pytest -q tests

# the benchmark at toy sizes, only to show that it runs (timings belong in bench/RESULTS.md, from `make bench` on a quiet machine)
benchcheck: setup
	$(BIN)/snn-robust bench --quick --out "$$(mktemp -d)"

bench: setup
	$(BIN)/snn-robust bench

lab: setup
	$(BIN)/jupyter lab $(LAB_ARGS) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )
