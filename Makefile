# ddpm: the README's commands.
#
#   make setup   install what the notebooks need (idempotent; also run by the others)
#   make lab     open the notebooks in JupyterLab, with a warm compile cache
#   make test    cargo test, then every notebook headless with DDPM_QUICK=1 (what CI runs)
#   make book    every notebook in full, as HTML in target/book/ (index.html)
#   make bench   cargo bench, with PyTorch's times and the ratios once make bench-torch has installed it
#   make check-cuda  compile the GPU path (feature cuda) with the CUDA compiler from PyPI, no GPU needed
#   make judge-torch NPY=s.npy  a second opinion on generated digits from an independent PyTorch CNN
#   make pretrained  train the networks shipped in data/pretrained/ again (over an hour; ONLY=mnist-cond for one)
#   make check-dispatch  the exact-bit tests on this processor and emulated without AVX-512 (qemu-user)
#   make check-lab  run notebooks 01 and 09 in a headless JupyterLab, move the slider, watch the animation (node, Chromium)
#
# Needs only Rust (rustup) and Python 3 with venv. Everything else goes into the
# project: .venv/ (Jupyter, and the Rust kernel's registration) and target/evcxr/
# (the notebooks' compiled dependencies, kept between kernels; see scripts/evcxr_kernel.py).
# evcxr_jupyter itself is installed with `cargo install`, into ~/.cargo/bin.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# cargo is not on PATH in a non-login shell on a fresh machine.
CARGO_HOME ?= $(HOME)/.cargo
export PATH := $(CARGO_HOME)/bin:$(PATH)
# Jupyter in the venv uses the venv's kernels before the user's own (e.g. another "rust").
export JUPYTER_PREFER_ENV_PATH := 1

PYTHON ?= python3
VENV := $(CURDIR)/.venv
VPY := $(VENV)/bin/python
REQS_STAMP := $(VENV)/.requirements-jupyter.stamp
EVCXR_VERSION := 0.22.0
NOTEBOOKS := notebooks
RUN_NOTEBOOKS := $(VPY) $(CURDIR)/scripts/run_notebooks.py
# More options for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port 8899"
# (as root, e.g. in a container, JupyterLab refuses to start without --allow-root).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

# make test runs this many notebooks at a time, each in its own kernel and compile-cache slot
# (target/evcxr/slot-N, a copy of slot 0: about 3 GB more each); 1 runs them one after another.
NOTEBOOK_JOBS ?= 2

# The networks shipped in data/pretrained/, trained again by the project's own code (scripts/pretrained.sh).
ONLY ?=

.PHONY: check-dispatch pretrained help setup setup-rust setup-crates setup-evcxr setup-python setup-kernel test test-notebooks lab book bench bench-torch judge-torch check-cuda check-lab clean-evcxr

help:
	@sed -n '3,12p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# *//'

setup: setup-rust setup-crates setup-evcxr setup-python setup-kernel

# evcxr needs the standard library's source.
setup-rust:
	rustup component add rust-src

# The notebooks' kernel resolves `:dep` offline (scripts/evcxr/evcxr.toml): download
# the crates of Cargo.lock first.
setup-crates:
	cargo fetch

setup-evcxr:
	@if cargo install --list | grep -qx 'evcxr_jupyter v$(EVCXR_VERSION):'; then \
	  echo "evcxr_jupyter $(EVCXR_VERSION) is installed"; \
	else \
	  echo "installing evcxr_jupyter $(EVCXR_VERSION) (compiles for several minutes, once)"; \
	  cargo install evcxr_jupyter --version $(EVCXR_VERSION) --locked; \
	fi

setup-python: $(REQS_STAMP)

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(REQS_STAMP): $(CURDIR)/requirements-jupyter.txt | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -q -r $(CURDIR)/requirements-jupyter.txt
	touch $@

# The kernel spec lives inside the venv (.venv/share/jupyter/kernels/rust).
setup-kernel: setup-python setup-evcxr
	$(VPY) $(CURDIR)/scripts/install_kernel.py

test: setup
	$(RUN_NOTEBOOKS) --check-only $(NOTEBOOKS)
	cargo test
	$(RUN_NOTEBOOKS) --quick --jobs $(NOTEBOOK_JOBS) --expect-fail tests/notebooks
	$(RUN_NOTEBOOKS) --quick --jobs $(NOTEBOOK_JOBS) --check-clean $(NOTEBOOKS)

# The notebooks alone, without cargo test.
test-notebooks: setup
	$(RUN_NOTEBOOKS) --quick --jobs $(NOTEBOOK_JOBS) --check-clean $(NOTEBOOKS)

lab: setup
	$(RUN_NOTEBOOKS) --prewarm $(NOTEBOOKS) || echo "warning: the pre-warm failed (see above); starting JupyterLab anyway"
	$(VENV)/bin/jupyter lab $(LAB_ARGS) $(NOTEBOOKS)

book: setup
	rm -rf $(CURDIR)/target/book
	$(RUN_NOTEBOOKS) --timeout 5400 --html $(CURDIR)/target/book $(NOTEBOOKS)

bench:
	cargo bench

# The PyTorch reference (benches/torch_reference.py): the same U-Net, timed on the same machine.
# Once it is installed, `make bench` (benches/network.rs) runs it after each of its own rows and
# prints the ratios, then times the two alternately (one more line per row). Optional: torch goes into target/torch-venv only, never into .venv (plain PyPI, so on x86-64
# Linux pip also brings torch's CUDA libraries, a few GB; the script runs on the CPU).
TORCH_VENV := $(CURDIR)/target/torch-venv
TORCH_STAMP := $(TORCH_VENV)/.torch.stamp

$(TORCH_STAMP):
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --disable-pip-version-check -q torch numpy
	touch $@

bench-torch: $(TORCH_STAMP)
	$(TORCH_VENV)/bin/python $(CURDIR)/benches/torch_reference.py --config default --threads 2
	$(TORCH_VENV)/bin/python $(CURDIR)/benches/torch_reference.py --config mnist-fast --threads 2
	$(TORCH_VENV)/bin/python $(CURDIR)/benches/torch_reference.py --config mnist-fast --batch 32 --threads 2

# A second opinion on generated digits: an independent PyTorch CNN trained here judges a .npy of
# samples (`ddpm eval --npy samples.npy` writes the ones eval judged). Optional, like bench-torch.
judge-torch: $(TORCH_STAMP)
	@test -n "$(NPY)" || { echo "usage: make judge-torch NPY=samples.npy"; exit 2; }
	$(TORCH_VENV)/bin/python $(CURDIR)/scripts/judge_torch.py $(NPY)

# The `cuda` feature, compiled (cargo check, candle's CUDA kernels included) against nvcc from
# PyPI in target/cuda-venv; no GPU or CUDA install needed. Long on 2 cores: see README (GPU).
check-cuda:
	bash $(CURDIR)/scripts/check_cuda.sh

# The matrix products' kernels are chosen at run time: the exact-bit tests on this processor and
# under QEMU as a processor without AVX-512 (scripts/check_dispatch.sh; needs qemu-user).
check-dispatch:
	bash $(CURDIR)/scripts/check_dispatch.sh

# The slider and the animation in a real JupyterLab (scripts/browser/check_lab.sh): screenshots in
# target/lab-check/. Not part of test: it needs node and Chromium. NB=... for other notebooks.
NB ?= $(NOTEBOOKS)/01_forward_process.ipynb $(NOTEBOOKS)/09_sampling.ipynb
check-lab:
	VENV=$(VENV) bash $(CURDIR)/scripts/browser/check_lab.sh $(CURDIR)/target/lab-check $(NB)

pretrained:
	bash $(CURDIR)/scripts/pretrained.sh $(ONLY)

# Frees the notebooks' compile cache (it is rebuilt on the next run: minutes).
clean-evcxr:
	rm -rf $(CURDIR)/target/evcxr
