# Entry points. `make eval` and `make test` set everything up on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
# On a CUDA cluster: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH_INDEX ?=
PYTEST_ARGS ?=
ARGS ?=
export MUJOCO_GL ?= egl
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: robocasa-assets setup eval test test-slow list leaderboard ablate clean-setup

# RoboCasa's own interpreter and asset pack (docs/robocasa.md)
ROBOCASA_VENV ?= .venv-robocasa
setup: $(VENV)/.setup-stamp $(ROBOCASA_VENV)/.setup-stamp

$(ROBOCASA_VENV)/.setup-stamp: requirements/lock-robocasa.txt scripts/setup_robocasa.sh $(wildcard sim_assets/robocasa_lite/*.py)
	ROBOCASA_VENV=$(ROBOCASA_VENV) bash scripts/setup_robocasa.sh
	touch $@

# Official RoboCasa kitchen assets (~10 GB, external host), then make them the active pack
robocasa-assets: $(ROBOCASA_VENV)/.setup-stamp
	$(ROBOCASA_VENV)/bin/python -m sim_assets.robocasa_lite.generate --unlink
	$(ROBOCASA_VENV)/bin/python -m robocasa.scripts.download_kitchen_assets
	ROBOCASA_VENV=$(ROBOCASA_VENV) bash scripts/setup_robocasa.sh

$(VENV)/.setup-stamp: pyproject.toml requirements/lock-cpu.txt scripts/setup_system.sh scripts/setup_venv.sh
	bash scripts/setup_system.sh
	VENV=$(VENV) TORCH_VERSION=$(TORCH_VERSION) TORCH_INDEX=$(TORCH_INDEX) bash scripts/setup_venv.sh
	touch $@

# make eval CLUSTER=slurm (or local): the plan as shards of one Slurm job array / N processes (docs/slurm.md)
CLUSTER ?=
# the embedded default evaluation: evaluators/conf/preset/make_eval.yaml (shipped checkpoint, twins)
eval: setup
	$(VENV)/bin/h05 eval preset=make_eval $(if $(CLUSTER),launcher=$(CLUSTER)) $(ARGS)

list: setup
	$(VENV)/bin/h05 list tasks

# make leaderboard RUNS="runs/a runs/b" [ARGS="--out site"]
RUNS ?= $(wildcard runs/*/manifest.json)
# The worked delay/shift ablation (docs/ablation.md); pass ABLATE_ARGS=... for your own grid.
ABLATE_ARGS ?= --benchmark twins --suites bimanual --tasks lift_tray@g1 lift_tray@adam_u --trials 3 \
	--policy '{"name": "h05", "checkpoint": "shipped:twins_bimanual", "label": "plain"}' \
	--policy '{"name": "h05", "checkpoint": "shipped:twins_bimanual_mpg_uac", "label": "mpg+uac"}' \
	--delays 0 1 2 3 4 --modes naive uac rtc --shifts camera_pose:3 --shift-delays 0 --workers 2 --name worked_mpg_uac
ablate: setup
	$(VENV)/bin/h05 ablate $(ABLATE_ARGS)

leaderboard: setup
	$(VENV)/bin/h05 leaderboard $(patsubst %/manifest.json,%,$(RUNS)) $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest -q -m "not slow and not gpu" $(PYTEST_ARGS)

test-slow: setup
	$(VENV)/bin/python -m pytest -q -m "slow" $(PYTEST_ARGS)

clean-setup:
	rm -rf $(VENV)
