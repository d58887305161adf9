# The two commands of the README:  make run  (set up, build the demo, start the app)  and  make test.
PY := .venv/bin/python
PORT ?= 8501
SIZE ?= 3000

.PHONY: run test setup demo app bench clean-workspace

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m ctl_core demo --size $(SIZE)

run: demo
	$(PY) -m streamlit run app/main.py --server.headless true --server.port $(PORT) \
	  --browser.gatherUsageStats false

app: setup
	$(PY) -m streamlit run app/main.py --server.headless true --server.port $(PORT) --browser.gatherUsageStats false

test:
	@bash scripts/setup.sh --test-deps
	.venv/bin/ruff check .
	OMP_NUM_THREADS=2 $(PY) -m pytest -q tests

bench: setup
	$(PY) -m ctl_core bench featurize
	$(PY) -m ctl_core bench serve

clean-workspace:
	rm -rf workspace
