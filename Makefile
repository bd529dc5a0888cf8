# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BRIEFMIN := $(VENV)/bin/briefmin
STAMP   := $(VENV)/.installed
DEMO    := .demo

.PHONY: install demo test test-full lint bench bench-quick bench-deps clean

install: $(STAMP)

# torch first, pinned: pip then takes the local CPU build instead of a multi-GB CUDA one
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

demo: install
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@echo "== briefmin add: archive the bundled fixture briefs"
	$(BRIEFMIN) add $(DEMO)/briefs.bmin fixtures/briefs
	@echo "== briefmin add again: nothing changed, no model load"
	$(BRIEFMIN) add $(DEMO)/briefs.bmin fixtures/briefs
	@echo "== briefmin info"
	$(BRIEFMIN) info $(DEMO)/briefs.bmin
	@echo "== briefmin search: a question in your own words"
	$(BRIEFMIN) search $(DEMO)/briefs.bmin "pricing change for EU customers" -k 3
	@echo "== briefmin dedupe: exact copies, normalized copies and near-duplicates"
	$(BRIEFMIN) dedupe $(DEMO)/briefs.bmin
	@echo "== briefmin minify: a brief at half its length"
	$(BRIEFMIN) minify fixtures/briefs/engineering/cache-invalidation.md --ratio 0.5
	@echo "== briefmin ls (first lines)"
	$(BRIEFMIN) ls $(DEMO)/briefs.bmin | head -5
	@echo "== briefmin restore into a temp folder and compare with the originals"
	$(BRIEFMIN) restore $(DEMO)/briefs.bmin --to $(DEMO)/restored
	@for f in $$($(BRIEFMIN) ls $(DEMO)/briefs.bmin --json | $(PY) -c \
	    'import json,sys; print("\n".join(r["path"] for r in json.load(sys.stdin)))'); do \
	    cmp -s "$$f" "$(DEMO)/restored/$$f" || { echo "DIFFERS: $$f"; exit 1; }; done; \
	    echo "every restored brief is byte-identical to its original"
	@echo "== briefmin verify"
	$(BRIEFMIN) verify $(DEMO)/briefs.bmin

test: install
	$(PY) -m pytest -q --hypothesis-profile=ci --durations=15

lint: install
	$(VENV)/bin/ruff check briefmin tests bench
	$(VENV)/bin/mypy briefmin

# every bench/bench_*.py on the real corpora (fetched into bench/data when missing);
# the full run writes bench/RESULTS.md, the quick one bench/out/RESULTS-quick.md
bench: install bench-deps
	$(PY) bench/run.py

bench-quick: install bench-deps
	$(PY) bench/run.py --quick

# the summarizers bench/bench_minify.py compares with (the `bench` extra)
bench-deps: install
	$(PY) -m pip install -q -e '.[dev,bench]'

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache
