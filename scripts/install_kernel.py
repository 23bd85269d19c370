#!/usr/bin/env python3
"""Register the project's Rust kernel inside the virtual environment.

Run with the venv's Python (`make setup` does):

    .venv/bin/python scripts/install_kernel.py

Writes <venv>/share/jupyter/kernels/rust/ (a folder that the venv's Jupyter
searches before the user's own kernels): evcxr's resources (logos, kernel.js,
version.txt, from `evcxr_jupyter --install`) and a kernel.json whose argv
starts scripts/evcxr_kernel.py, the launcher that gives each kernel the
project's persistent compile cache. Nothing is written outside the venv.
Idempotent: quiet when the kernel is already registered.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_NAME = "rust"


def main():
    if sys.prefix == sys.base_prefix:
        sys.exit("install_kernel.py: run it with the virtual environment's Python (.venv/bin/python)")
    data_dir = os.path.join(sys.prefix, "share", "jupyter")
    kernel_dir = os.path.join(data_dir, "kernels", KERNEL_NAME)
    spec = {
        "argv": [sys.executable, os.path.join(ROOT, "scripts", "evcxr_kernel.py"),
                 "--control_file", "{connection_file}"],
        "display_name": "Rust (ddpm)",
        "language": "rust",
        "interrupt_mode": "message",
        "metadata": {"ddpm": "written by scripts/install_kernel.py"},
    }
    kernel_json = os.path.join(kernel_dir, "kernel.json")
    try:
        with open(kernel_json) as f:
            if json.load(f) == spec and os.path.exists(os.path.join(kernel_dir, "version.txt")):
                return
    except (OSError, ValueError):
        pass
    cargo_bin = os.path.join(os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo"), "bin")
    env = dict(os.environ, JUPYTER_PATH=data_dir)
    env["PATH"] = cargo_bin + os.pathsep + env.get("PATH", "")
    # evcxr_jupyter --install writes <JUPYTER_PATH>/kernels/rust/ with its resources;
    # its kernel.json (argv = the bare evcxr_jupyter) is replaced below.
    subprocess.run(["evcxr_jupyter", "--install"], env=env, check=True, stdout=subprocess.DEVNULL)
    with open(kernel_json, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    print("Registered the Rust kernel in %s" % kernel_dir)


if __name__ == "__main__":
    main()
