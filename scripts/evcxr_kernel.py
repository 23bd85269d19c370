#!/usr/bin/env python3
"""Start the evcxr Rust kernel with this project's persistent compile cache.

This is the `argv` of the project's Jupyter kernel (written by
scripts/install_kernel.py into .venv/share/jupyter/kernels/rust/kernel.json):

    python scripts/evcxr_kernel.py --control_file {connection_file}

evcxr compiles every cell as a small crate in EVCXR_TMPDIR and keeps the build
output (candle and the other dependencies of `:dep ddpm = { path = ".." }`)
under EVCXR_TMPDIR/target. Without EVCXR_TMPDIR each kernel gets a fresh
temporary folder and recompiles all dependencies (minutes). So each kernel
gets a persistent slot folder target/evcxr/slot-N:

- Two kernels must never share a slot (they would overwrite each other's
  src/lib.rs and load each other's code), so a kernel holds an exclusive lock
  on target/evcxr/slot-N.lock for its lifetime. The lock file stays open
  across exec, and the operating system releases it when the kernel exits.
- Slot 0 is used whenever it is free (it is the one `make lab` pre-warms and
  the notebook runner uses). A second kernel running at the same time (two
  notebooks open in JupyterLab) takes the next free slot; a new slot is seeded
  with a copy of slot 0's build output so it starts warm too.

Environment read here:
- DDPM_EVCXR_HOME: the folder of the slots (default: <repo>/target/evcxr).
- DDPM_EVCXR_WAIT: seconds to wait for slot 0 before taking another (default 3;
  the notebook runner sets more, as it starts kernels one after another).
- DDPM_EVCXR_SLOT: the slot to wait for instead of slot 0 (default 0): the notebook
  runner with --jobs N gives each of its N workers its own slot, seeded before the
  first notebook starts.
It also sets EVCXR_CONFIG_DIR to scripts/evcxr (see the evcxr.toml there), and
CANDLE_NUM_THREADS=1 unless it is set (as the ddpm binary does), and writes
<home>/.cargo/config.toml, which keeps the dependencies at opt-level 2 while the
cells compile at evcxr.toml's level.
"""

import errno
import glob
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_SLOTS = 16

try:
    import fcntl
except ImportError:  # Windows: no flock; use slot 0 and hope for one kernel at a time.
    fcntl = None


def slots_home():
    """The folder of the slots: DDPM_EVCXR_HOME, else <repo>/target/evcxr."""
    return os.environ.get("DDPM_EVCXR_HOME") or os.path.join(ROOT, "target", "evcxr")


def cargo_bin():
    home = os.environ.get("CARGO_HOME") or os.path.join(os.path.expanduser("~"), ".cargo")
    return os.path.join(home, "bin")


def try_lock(path):
    """Open and exclusively lock `path`; return the fd, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    return fd


def take_slot(home, wait_s, preferred=0):
    """Lock a slot folder, waiting up to `wait_s` for slot `preferred`, else taking the first
    free one; return (slot index, slot path, lock fd)."""
    deadline = time.monotonic() + wait_s
    while True:
        fd = try_lock(os.path.join(home, "slot-%d.lock" % preferred))
        if fd is not None:
            return preferred, os.path.join(home, "slot-%d" % preferred), fd
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    for i in range(MAX_SLOTS):
        fd = try_lock(os.path.join(home, "slot-%d.lock" % i))
        if fd is not None:
            return i, os.path.join(home, "slot-%d" % i), fd
    sys.exit("evcxr_kernel: all %d kernel slots in %s are in use" % (MAX_SLOTS, home))


def seed_slot(slot, home):
    """Give a new slot a copy of slot 0's build output, so it starts warm."""
    src = os.path.join(home, "slot-0")
    if os.path.exists(os.path.join(slot, "target")) or not os.path.isdir(os.path.join(src, "target")):
        return
    tmp = os.path.join(slot, "target.seeding")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(os.path.join(src, "target"), tmp, symlinks=True,
                        ignore=shutil.ignore_patterns("*code_[0-9]*"))
        os.rename(tmp, os.path.join(slot, "target"))
    except OSError as e:  # a cold slot still works, only slower
        shutil.rmtree(tmp, ignore_errors=True)
        print("evcxr_kernel: could not seed %s from slot-0: %s" % (slot, e), file=sys.stderr)


def prepare_slot(home, index):
    """Seed slot `index` (> 0) from slot 0 now, while no kernel compiles in slot 0, unless a
    kernel holds it (that kernel's slot is warm already)."""
    fd = try_lock(os.path.join(home, "slot-%d.lock" % index))
    if fd is None:
        return
    try:
        slot = os.path.join(home, "slot-%d" % index)
        os.makedirs(slot, exist_ok=True)
        seed_slot(slot, home)
    finally:
        os.close(fd)


# Read by cargo for every build under the slots' folder (an ancestor of each slot's crate).
CARGO_CONFIG = """\
# Written by scripts/evcxr_kernel.py at every kernel start; edits here are overwritten.
# evcxr compiles the cells at the opt_level of scripts/evcxr/evcxr.toml; the dependencies
# (ddpm, candle, ...) do the heavy work and stay at level 2 whatever that is.
[profile.dev.package."*"]
opt-level = 2
"""


def write_cargo_config(home):
    """Write <home>/.cargo/config.toml (CARGO_CONFIG) unless it already says exactly that."""
    folder = os.path.join(home, ".cargo")
    path = os.path.join(folder, "config.toml")
    try:
        with open(path) as f:
            if f.read() == CARGO_CONFIG:
                return
    except OSError:
        pass
    os.makedirs(folder, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(CARGO_CONFIG)
    os.replace(tmp, path)


def main():
    home = slots_home()
    os.makedirs(home, exist_ok=True)
    wait_s = float(os.environ.get("DDPM_EVCXR_WAIT", "3"))
    value = os.environ.get("DDPM_EVCXR_SLOT", "0")
    preferred = int(value) if value.isdigit() else -1
    if not 0 <= preferred < MAX_SLOTS:
        sys.exit("evcxr_kernel: DDPM_EVCXR_SLOT=%r: expected a slot number from 0 to %d" % (value, MAX_SLOTS - 1))
    index, slot, fd = take_slot(home, wait_s, preferred)
    os.makedirs(slot, exist_ok=True)
    if index > 0:
        seed_slot(slot, home)
    # evcxr keeps each cell's library (target/<triple>/debug/libcode_N.so) and never deletes them.
    for so in glob.glob(os.path.join(slot, "target", "*", "debug", "*code_[0-9]*")):
        try:
            os.remove(so)
        except OSError:
            pass

    write_cargo_config(home)

    env = os.environ
    env["EVCXR_TMPDIR"] = slot
    env["EVCXR_CONFIG_DIR"] = os.path.join(ROOT, "scripts", "evcxr")
    env["PATH"] = cargo_bin() + os.pathsep + env.get("PATH", "")
    # candle's element-wise operations on the calling thread, as the ddpm binary does
    # (src/bin/ddpm/threads.rs), unless the user chose otherwise. What each setting here did
    # to training in a notebook is measured in docs/results.md; docs/kernel.md explains them.
    env.setdefault("CANDLE_NUM_THREADS", "1")
    # The kernel has the C library's allocator (the binary has mimalloc, told to keep what it
    # frees: src/bin/ddpm/alloc.rs). By default glibc maps every buffer above its mmap threshold
    # afresh and gives it back on free, so each step's buffers cost page faults and zeroing.
    # Keep buffers up to 32 MiB (the largest threshold glibc accepts) on the heap and the heap
    # untrimmed below 1 GiB.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(32 << 20))
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(1 << 30))
    # evcxr builds in cargo's dev profile: with debug assertions and overflow checks in every
    # crate (candle, gemm, rayon, ddpm), which made training in the kernel much slower than the
    # binary. Build like `cargo build --release` in those two respects (the crate's own checks
    # are assert!s and stay). Set either to true to get them back (the kernel's cache then
    # recompiles once).
    env.setdefault("CARGO_PROFILE_DEV_DEBUG_ASSERTIONS", "false")
    env.setdefault("CARGO_PROFILE_DEV_OVERFLOW_CHECKS", "false")
    # On start, evcxr_jupyter "updates" the kernel spec it finds in JUPYTER_PATH (or the
    # user's Jupyter folder) when its version differs, rewriting kernel.json to start the
    # bare evcxr_jupyter. Point it at a folder with no kernels/ so it leaves every spec alone.
    env["JUPYTER_PATH"] = home
    exe = shutil.which("evcxr_jupyter")
    if exe is None:
        sys.exit("evcxr_kernel: evcxr_jupyter not found on PATH or in %s; run `make setup`" % cargo_bin())
    os.set_inheritable(fd, True)  # keep the slot locked for as long as the kernel runs
    os.execve(exe, [exe] + sys.argv[1:], env)


if __name__ == "__main__":
    main()
