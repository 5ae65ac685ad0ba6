# Two entry points (see README): `make demo` and `make test`. Both install first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install demo test lint

install: $(VENV)/.installed

# torch is pinned to the local CPU build first; a plain `torch` requirement could pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# the evaluation stage reads benchmark files from BENCHMARKS (default: ../shared/data if present)
BENCHMARKS ?= $(wildcard ../shared/data)

demo: install
	$(VENV)/bin/ares demo $(if $(BENCHMARKS),--benchmarks $(BENCHMARKS))

test: install
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
