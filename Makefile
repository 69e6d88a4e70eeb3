# Two commands for a fresh machine: `make demo` and `make test`.
# torch/torchvision are pinned in pyproject.toml to builds on this machine's local index.

VENV   ?= .venv
PYTHON ?= python3
OUT    ?= runs/demo
STAMP  := $(VENV)/.installed
SHELL  := /bin/bash
.SHELLFLAGS := -eo pipefail -c

export PREFECT_SERVER_ANALYTICS_ENABLED = false
export DO_NOT_TRACK = 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 90

.PHONY: install demo test test-fast clean

install: $(STAMP)

# Reinstall only when the package definition changes.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(VENV)/bin/python -c "import gan_aug, flows, torch, prefect"
	touch $(STAMP)

demo: install
	$(VENV)/bin/gan-aug demo --out $(OUT)

test: install
	$(VENV)/bin/python -m pytest

# Skips the end-to-end flow and other slow tests: for quick iterations.
test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
