# Every target creates the virtual environment on demand. torch is pinned to the CPU build that lies
# on these machines through constraints.txt; pyproject keeps a normal range for GPU users.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data/embedded
SEED ?= 0

.PHONY: venv test lint data humanoid train evaluator train-loop bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

data: $(STAMP)
	$(PY) -m motion_diffusion.data.procedural --out $(DATA) --seed $(SEED)

humanoid: $(STAMP)
	$(PY) -m physics_correct.humanoid --out assets/humanoid.xml

train: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	$(PY) -m motion_diffusion.train --data $(DATA) --preset tiny --out runs/tiny --steps 2000 --lr 1e-3 --max-minutes 14

evaluator: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	$(PY) -m motion_diffusion.evaluator train --data $(DATA) --out $(DATA)/evaluator --seed $(SEED)

train-loop: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	@echo "The self-consuming loop is not built yet: the embedded dataset is ready under $(DATA)."

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
