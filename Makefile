# The two entry points README.md names: `make run` (the main job) and `make test` (the tests).
# Both create the virtual environment on first use. torch is pinned to the CPU build by constraints.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-all bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[rl,test,plots,prove,compare]"
	touch $(STAMP)

# the main job: GFlowNets, RL and search under equal budgets on 6 easy test tasks, 3 seeds (docs/comparison.md)
run: $(STAMP)
	$(PY) -m tasm_env.cli compare --suite tasm-basic-v1 --split test --tiers easy --tasks 6 \
		--agents tb,rtb,reinforce,ppo,random,mcmc,beam,exact --budget 64 --seeds 3 --out runs/compare

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n auto

test-all: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadgroup

bench: $(STAMP)
	$(PY) benchmarks/core.py
	$(PY) benchmarks/envs.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .hypothesis
