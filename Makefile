# Every target creates the virtual environment on demand. torch is pinned to the CPU build that lies
# on these machines through constraints.txt; pyproject keeps a normal range for GPU users.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data/embedded
SEED ?= 0
LOOP_OUT ?= runs/loop

.PHONY: venv test test-gpu lint data humanoid train evaluator evaluator-if-missing train-loop toy-gaussian bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,ray,mjx]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# Tests that need a CUDA GPU (MJX at scale); `make test` deselects them.
test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

data: $(STAMP)
	$(PY) -m motion_diffusion.data.procedural --out $(DATA) --seed $(SEED)

humanoid: $(STAMP)
	$(PY) -m physics_correct.humanoid --out assets/humanoid.xml

train: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	$(PY) -m motion_diffusion.train --data $(DATA) --preset tiny --out runs/tiny --steps 4000 --lr 1e-3 --max-minutes 14

evaluator: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	$(PY) -m motion_diffusion.evaluator train --data $(DATA) --out $(DATA)/evaluator --seed $(SEED)

evaluator-if-missing: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	@test -f $(DATA)/evaluator/evaluator.json || $(MAKE) --no-print-directory evaluator

# The self-consuming loop on the embedded dataset (resumes if $(LOOP_OUT) holds an unfinished run).
train-loop: evaluator-if-missing
	$(PY) -m motion_diffusion.loop --out $(LOOP_OUT) --data $(DATA) $(LOOP_ARGS)

toy-gaussian: $(STAMP)
	$(PY) -m motion_diffusion.loop.toy --out runs/toy_gaussian --seeds 20

bench: $(STAMP)
	@test -f $(DATA)/Mean.npy || $(MAKE) --no-print-directory data
	$(PY) -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
