# Two commands for a fresh machine: `make demo` and `make test`.
# torch/torchvision are pinned in pyproject.toml to builds on this machine's local index; every other
# package is installed at the version in constraints.txt, the venv the test suite passed with.

VENV   ?= .venv
PYTHON ?= python3
OUT    ?= runs/demo
STAMP  := $(VENV)/.installed
SHELL  := /bin/bash
.SHELLFLAGS := -eo pipefail -c

export PREFECT_SERVER_ANALYTICS_ENABLED = false
export DO_NOT_TRACK = 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 90

FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz

.PHONY: install constraints demo lint test test-fast clean fashion-mnist chromium

install: $(STAMP)

# Reinstall only when the package definition or the pinned versions change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(VENV)/bin/python -c "import gan_aug, flows, torch, prefect"
	touch $(STAMP)

# Pin what a fresh machine installs to this venv's versions: run it after the tests pass on a venv
# with new or upgraded packages. setuptools is kept (torch needs it at run time); pip and gan-aug are not.
constraints:
	test -x $(VENV)/bin/python || { echo "no $(VENV) to freeze: run make install first"; exit 1; }
	{ echo "# The versions the test suite passed with; make install installs these. Regenerate: make constraints"; \
	  $(VENV)/bin/python -m pip freeze --disable-pip-version-check --all --exclude pip --exclude-editable --exclude gan-aug; } > constraints.txt.tmp
	if grep -n -E '^-e | @ ' constraints.txt.tmp; then \
		echo "constraints.txt can only pin released versions: reinstall these from an index"; rm -f constraints.txt.tmp; exit 1; fi
	mv constraints.txt.tmp constraints.txt

demo: install
	$(VENV)/bin/gan-aug demo --out $(OUT)

# ruff.toml's rules; make test runs this first, so a lint failure fails the test run.
lint: install
	$(VENV)/bin/ruff check .

test: install fashion-mnist chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile

# The benchmark data set, from Debian (30 MB, MIT licence). Tests that need it skip without it.
fashion-mnist:
	@test -f $(FASHION_MNIST) || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
			{ apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; } || \
			echo "could not install dataset-fashion-mnist: its tests will be skipped"; \
		else echo "Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist): its tests will be skipped"; fi; }

# Headless Chromium for the report's browser test (Debian's package; Playwright drives it, it
# downloads nothing). Without it that test is skipped.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
			{ apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || \
			echo "could not install chromium: the report's browser test will be skipped"; \
		else echo "Chromium is not installed (sudo apt-get install chromium): the report's browser test will be skipped"; fi; }

# Skips the end-to-end flow and other slow tests: for quick iterations.
test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
