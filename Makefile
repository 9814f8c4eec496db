# Two entry points: `make run` (set up and run the example end to end) and `make test` (every check).
# The first interpreter that actually runs and is 3.11+ (pyenv shims exist for versions that
# are installed but not selected, and fail when called).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	echo $$p; break; fi; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest thorough fuzz bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Conveyor needs Python 3.11 or newer on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n 2

test: lint typecheck pytest

thorough: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest tests/property

# The parsers' fuzz test: 2,000 cases for each of six parsers, 12,000 in all (`make test`: 60 each).
# The API's: 1,000 bad requests for each operation served (19) and 1,000 bad targets: 20,000
# (`make test`: 30 each).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/property/test_fuzz_parsers.py --durations=0 -v
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/property/test_fuzz_api.py --durations=0 -v

# The 200,000-event store the rebuild bench reads; made once, again when the code that writes
# its events changes.
BENCH_STORE := .bench/store
$(BENCH_STORE)/.made: $(STAMP) bench/make_store.py $(shell find domain engine -name "*.py")
	rm -rf $(BENCH_STORE)
	$(BIN)/python bench/make_store.py $(BENCH_STORE)
	@touch $@

# Every bench script, each as `python bench/X.py`.
bench: $(STAMP) $(BENCH_STORE)/.made
	$(BIN)/python bench/orchestration.py
	$(BIN)/python bench/rebuild.py $(BENCH_STORE)
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/explore.py
	$(BIN)/python bench/scale_out.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .conveyor .bench .pytest_cache .mypy_cache .ruff_cache
