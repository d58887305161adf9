# The two commands of the README:  make run  (set up, build the demo, start the app)  and  make test.
PY := .venv/bin/python
PORT ?= 8501
# This machine only. Another address (e.g. ADDRESS=0.0.0.0) is served only once accounts exist (see the README).
ADDRESS ?= 127.0.0.1
SIZE ?= 3000

.PHONY: run test setup demo data app bench report clean-workspace

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m ctl_core demo --size $(SIZE)

# make run DATA=DIR: import the outfit tables in DIR into workspace-<name of DIR> (once), build it, serve it.
# PHOTOS=DIR2 also imports DIR2/styles.csv's labelled photos to teach the category head (not served);
# METHODS="triplet-category" builds only those methods (quicker; default: all five).
DATA ?=
PHOTOS ?=
METHODS ?=
DATA_WS = workspace-$(notdir $(abspath $(DATA)))

run: $(if $(DATA),data,demo)
	$(if $(DATA),CTL_WORKSPACE=$(abspath $(DATA_WS)) )$(PY) -m streamlit run app/main.py --server.headless true \
	  --server.address $(ADDRESS) --server.port $(PORT) --browser.gatherUsageStats false

data: setup
	@test -f $(DATA_WS)/data/import_outfits_report.json || \
	  $(PY) -m ctl_core --workspace $(DATA_WS) import outfits $(DATA)
	$(if $(PHOTOS),@test -f $(DATA_WS)/data/category_examples.csv || \
	  $(PY) -m ctl_core --workspace $(DATA_WS) import folder $(PHOTOS) --csv $(PHOTOS)/styles.csv --purpose categories)
	$(PY) -m ctl_core --workspace $(DATA_WS) build $(if $(METHODS),--methods $(METHODS))

app: setup
	$(PY) -m streamlit run app/main.py --server.headless true --server.address $(ADDRESS) --server.port $(PORT) \
	  --browser.gatherUsageStats false

test:
	@bash scripts/setup.sh --test-deps
	.venv/bin/ruff check .
	OMP_NUM_THREADS=2 $(PY) -m pytest -q tests

bench: setup
	$(PY) -m ctl_core bench featurize
	$(PY) -m ctl_core bench serve

# make report: every measured table of the README into docs/results/ (stamped), README blocks refreshed.
# QUICK=1: the demo's evaluation tables only (minutes); REAL="workspace-mango": also a built real-data workspace.
QUICK ?=
REAL ?=
report: setup
	$(PY) -m ctl_core report $(if $(QUICK),--quick) $(if $(REAL),--demo --real $(REAL))

clean-workspace:
	rm -rf workspace
