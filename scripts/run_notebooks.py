#!/usr/bin/env python3
"""Execute the notebooks headless in the real Jupyter machinery (nbclient + the evcxr kernel).

Run with the venv's Python (the Makefile does):

    .venv/bin/python scripts/run_notebooks.py --quick --jobs 2 --check-clean notebooks   # make test
    .venv/bin/python scripts/run_notebooks.py --html target/book notebooks      # make book
    .venv/bin/python scripts/run_notebooks.py --prewarm notebooks               # make lab

Arguments are notebooks or folders of notebooks (NN_topic.ipynb, run in name order; with
--jobs N, N at a time, each worker in a compile-cache slot of its own).
Each notebook runs top to bottom in a fresh kernel whose working directory is the
notebook's folder, so `:dep ddpm = { path = ".." }` finds the crate.

First, a pre-warm kernel runs the notebooks' `:dep` lines once (--prewarm-timeout,
default 45 min): on a cold cache that compiles candle and the other dependencies into
target/evcxr/ (minutes), so that no notebook's first cell carries that cost against the
per-cell timeout (--timeout, default 900 s). Warm, the pre-warm takes seconds.

A notebook fails when
- a cell reports an error (a compile error, a panic, a kernel that died, a timeout),
- a cell writes to stderr: evcxr reports a cell whose `?` returned an error as a success and
  prints the error there (the crate never writes to stderr), or
- any output of any cell contains "panicked at" (stdout, stderr, results, displays).
evcxr reports a panicking cell as a success unless `:preserve_vars_on_panic 0` is set,
so before the notebook's first cell the runner sends that command as a hidden cell
(not saved, its output checked); scripts/evcxr/evcxr.toml sets the same for every kernel.
evcxr forwards a cell's stdout and stderr on a thread of its own, so a line can reach the
runner after the cell's reply: after each cell the runner runs a hidden cell that prints a
sentinel line to both streams and reads the kernel's messages until both sentinels have come,
counting what arrives before them as the cell's own output.

The notebooks on disk are never modified. The last line printed is the summary,
`notebooks: N passed, M failed`; the exit status is 1 when anything failed.
"""

import argparse
import datetime
import glob
import html
import os
import queue
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import run_sync

import evcxr_kernel  # the kernel's launcher, beside this script: its compile-cache slots

PANIC_MARK = "panicked at"
GUARD_CODE = ":preserve_vars_on_panic 0"
# What the hidden cell after each cell writes to both of the process's streams (`late_output`).
SENTINEL = "ddpm-runner: the cell before has no more output"
SENTINEL_CODE = 'println!("%s"); eprintln!("%s");' % (SENTINEL, SENTINEL)
SENTINEL_TIMEOUT = 300
DEFAULT_DEP = ':dep ddpm = { path = ".." }'
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def log(msg=""):
    print(msg, flush=True)


def find_notebooks(paths):
    found = []
    for p in paths:
        if os.path.isdir(p):
            found += sorted(glob.glob(os.path.join(p, "*.ipynb")))
        elif os.path.isfile(p) and p.endswith(".ipynb"):
            found.append(p)
        else:
            sys.exit("run_notebooks: %s is neither a notebook nor a folder" % p)
    return found


def dirty_cells(nb):
    """Indices of code cells that carry outputs or an execution count."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


def output_texts(output):
    """Every piece of text in one cell output."""
    kind = output.get("output_type")
    if kind == "stream":
        yield output.get("text", "")
    elif kind == "error":
        yield output.get("ename", "")
        yield output.get("evalue", "")
        yield "\n".join(output.get("traceback", []))
    elif kind in ("execute_result", "display_data", "update_display_data"):
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/") or mime.endswith("+xml") or mime.endswith("json"):
                yield value if isinstance(value, str) else str(value)


def cell_text(cell):
    text = ""
    for o in cell.get("outputs", []):
        for t in output_texts(o):
            if text and not text.endswith("\n"):
                text += "\n"
            text += t
    return ANSI.sub("", text)


def indent(text, prefix="    | ", max_lines=40):
    """Indent `text`; keep its head (where a panic message is) and its last lines."""
    lines = text.rstrip().splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines - 6] + ["... (%d lines cut) ..." % (len(lines) - max_lines + 1)] + lines[-5:]
    return "\n".join(prefix + l for l in lines)


def warm_slot_free():
    """Whether no kernel holds slot 0 of the compile cache (see scripts/evcxr_kernel.py)."""
    lock = os.path.join(evcxr_kernel.slots_home(), "slot-0.lock")
    if not os.path.exists(lock):
        return True
    fd = evcxr_kernel.try_lock(lock)
    if fd is None:
        log("note: another kernel holds the warm compile cache (target/evcxr/slot-0); "
            "using a copy of it")
        return False
    os.close(fd)
    return True


class NotebookFailure(Exception):
    pass


def title_of(nb, path):
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return os.path.splitext(os.path.basename(path))[0]


def late_output(client, timeout):
    """The stream text of the last cell that reached the kernel's channel after its reply.

    evcxr forwards what the cell's process writes to stdout and stderr on a thread of its own,
    under whichever request came last, so a line (a `?` error on stderr) can arrive after the
    cell has ended, and nbclient, which keeps only the messages of the request it waits for,
    would drop it. The process writes each stream in order through one pipe: a hidden cell that
    writes SENTINEL to both arrives after every line of the cell before. This sends it and reads
    the channel itself, keeping every stream message whatever request it names, until SENTINEL
    has come on both streams and the hidden cell's status is idle. Returns {"stdout", "stderr"}."""
    msg_id = client.kc.execute(SENTINEL_CODE, store_history=False)
    text = {"stdout": "", "stderr": ""}
    done = set()
    deadline = time.monotonic() + timeout
    while done != {"stdout", "stderr", "idle"}:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NotebookFailure("the kernel did not finish the runner's hidden cell within %d s" % timeout)
        try:
            msg = run_sync(client.kc.get_iopub_msg)(timeout=remaining)
        except queue.Empty:
            continue
        kind, content = msg["msg_type"], msg["content"]
        own = msg.get("parent_header", {}).get("msg_id") == msg_id
        if kind == "stream" and content.get("name") in text:
            lines = content.get("text", "").splitlines(keepends=True)
            if any(line.strip() == SENTINEL for line in lines):
                done.add(content["name"])
            text[content["name"]] += "".join(line for line in lines if line.strip() != SENTINEL)
        elif kind == "status" and own and content.get("execution_state") == "idle":
            done.add("idle")
        elif kind == "error" and own:
            raise NotebookFailure("the runner's hidden cell failed: %s" % content.get("evalue", ""))
    return text


def run_cells(nb, cwd, args, on_cell=None):
    """Execute the code cells of `nb` in a fresh kernel; fill in their outputs.

    Returns the list of (cell index, seconds). Raises NotebookFailure on the first failure."""
    client = NotebookClient(
        nb,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        kernel_name=args.kernel,
        resources={"metadata": {"path": cwd}},
        record_timing=True,
    )
    times = []
    index = None
    count = 0

    def where():
        return "cell %d (code cell [%d])" % (index, count)

    try:
        with client.setup_kernel():
            info = client.wait_for_reply(client.kc.kernel_info())
            if info and "language_info" in info["content"]:
                nb.metadata["language_info"] = info["content"]["language_info"]

            # Hidden first cell: make a panic an error. It is appended, run, then removed,
            # because nbclient writes every executed cell back into the notebook.
            guard = nbformat.v4.new_code_cell(GUARD_CODE)
            nb.cells.append(guard)
            try:
                client.execute_cell(guard, len(nb.cells) - 1, store_history=False)
            finally:
                nb.cells.pop()
            if "false" not in cell_text(guard):
                raise NotebookFailure("the kernel did not confirm `%s`; it answered:\n%s"
                                      % (GUARD_CODE, indent(cell_text(guard) or "(nothing)")))

            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                count += 1
                start = time.monotonic()
                try:
                    client.execute_cell(cell, index, execution_count=count)
                finally:
                    times.append((index, time.monotonic() - start))
                    if on_cell:
                        on_cell(index, times[-1][1])
                late = late_output(client, min(args.timeout, SENTINEL_TIMEOUT))
                for name in ("stdout", "stderr"):
                    if late[name]:
                        cell.outputs.append(nbformat.v4.new_output("stream", name=name, text=late[name]))
                text = cell_text(cell)
                # evcxr answers "ok" for a cell whose `?` returned an error and prints the error
                # on stderr only; the crate itself never writes to stderr.
                errors = "".join(o.get("text", "") for o in cell.get("outputs", [])
                                 if o.get("output_type") == "stream" and o.get("name") == "stderr").strip()
                if errors:
                    raise NotebookFailure("%s returned an error (evcxr printed it on stderr and reported "
                                          "success):\n    source:\n%s\n    stderr:\n%s"
                                          % (where(), indent(cell.source, max_lines=15), indent(errors)))
                if PANIC_MARK in text:
                    raise NotebookFailure("%s printed %r although the kernel reported success:\n%s"
                                          % (where(), PANIC_MARK, indent(text)))
    except NotebookFailure:
        raise
    except CellTimeoutError:
        raise NotebookFailure("%s ran past the %d s cell timeout" % (where(), args.timeout))
    except CellExecutionError as e:
        cell = nb.cells[index]
        err = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        detail = cell_text(cell) or str(e)
        head = ANSI.sub("", "%s: %s" % (err[-1].get("ename", ""), err[-1].get("evalue", ""))) if err else ""
        head = (head.strip().splitlines() or ["error"])[0]
        raise NotebookFailure("%s failed (%s)\n    source:\n%s\n    output:\n%s"
                              % (where(), head, indent(cell.source, max_lines=15), indent(detail)))
    except DeadKernelError as e:
        raise NotebookFailure("the kernel died%s: %s"
                              % ("" if index is None else " in " + where(), e))
    except Exception as e:  # kernel failed to start, lost connection, ...
        raise NotebookFailure("%s %s: %s" % (type(e).__name__, "while starting the kernel"
                                             if index is None else "in " + where(), e))
    return times


def run_notebook(path, args, log=log):
    nb = nbformat.read(path, as_version=4)
    cwd = os.path.dirname(os.path.abspath(path))
    log("== %s" % path)
    start = time.monotonic()

    def progress(index, seconds):
        if args.verbose or seconds >= 30:
            log("   cell %d: %.1f s" % (index, seconds))

    error = None
    times = []
    try:
        times = run_cells(nb, cwd, args, on_cell=progress)
    except NotebookFailure as e:
        error = str(e)
    wall = time.monotonic() - start
    slow = sorted(times, key=lambda t: -t[1])[:args.slowest]
    slow_txt = ", ".join("cell %d %.1f s" % t for t in slow)
    if error is None:
        log("   ok   %s: %.1f s, %d code cells; slowest: %s" % (path, wall, len(times), slow_txt or "-"))
    else:
        log("   FAIL %s after %.1f s: %s" % (path, wall, error))
        if slow_txt:
            log("   slowest cells: %s" % slow_txt)
    return {"path": path, "nb": nb, "ok": error is None, "error": error, "seconds": wall,
            "title": title_of(nb, path)}


def take_worker_slot(slots):
    """In a worker process of --jobs: its kernels wait for a compile-cache slot of their own."""
    os.environ["DDPM_EVCXR_SLOT"] = str(slots.get())


def run_notebook_quietly(path, args):
    """run_notebook in a worker process, its lines kept and returned with the result, so that
    each notebook's lines print together."""
    lines = []
    result = run_notebook(path, args, log=lines.append)
    result["lines"] = lines
    return result


def run_notebooks(notebooks, args):
    """Run the notebooks, `args.jobs` at a time; the results in the notebooks' order."""
    jobs = max(1, min(args.jobs, len(notebooks)))
    if jobs == 1:
        return [run_notebook(p, args) for p in notebooks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Each worker's kernels use a slot of their own (1 .. jobs - 1 besides slot 0), seeded here
    # from slot 0 while no kernel is compiling in it.
    home = evcxr_kernel.slots_home()
    for i in range(1, jobs):
        evcxr_kernel.prepare_slot(home, i)
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    slots = context.Queue()
    for i in range(jobs):
        slots.put(i)
    log("%d notebooks at a time (a kernel each): a notebook's time includes waiting for the cores" % jobs)
    results = {}
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=take_worker_slot, initargs=(slots,)) as pool:
        futures = {pool.submit(run_notebook_quietly, p, args): p for p in notebooks}
        for future in as_completed(futures):
            result = future.result()
            for line in result.pop("lines"):
                log(line)
            results[futures[future]] = result
    return [results[p] for p in notebooks]


def write_html(results, outdir):
    from nbconvert import HTMLExporter

    os.makedirs(outdir, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    rows = []
    for r in results:
        stem = os.path.splitext(os.path.basename(r["path"]))[0]
        body, _ = exporter.from_notebook_node(r["nb"], resources={"metadata": {"name": r["title"]}})
        with open(os.path.join(outdir, stem + ".html"), "w", encoding="utf-8") as f:
            f.write(body)
        status = "ok" if r["ok"] else "FAILED"
        rows.append('<tr><td><a href="%s.html">%s</a></td><td>%s</td><td class="%s">%s</td><td>%.0f s</td></tr>'
                    % (html.escape(stem), html.escape(stem), html.escape(r["title"]),
                       "ok" if r["ok"] else "fail", status, r["seconds"]))
    index = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ddpm notebooks</title>
<style>body{font-family:sans-serif;max-width:52em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.ok{color:#2a7}.fail{color:#c22;font-weight:bold}</style></head>
<body><h1>ddpm: the notebooks</h1>
<p>Executed on %s, DDPM_QUICK=%s.</p>
<table><tr><th>notebook</th><th>topic</th><th>status</th><th>time</th></tr>
%s
</table></body></html>
""" % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.environ.get("DDPM_QUICK", "unset"), "\n".join(rows))
    with open(os.path.join(outdir, "index.html"), "w", encoding="utf-8") as f:
        f.write(index)
    log("HTML written to %s/ (index.html and %d notebooks)" % (outdir, len(results)))


def prewarm(paths, args, default_dep=True):
    """Compile the notebooks' `:dep` lines once, so that a notebook's first `:dep` cell is quick.

    Without any `:dep` line in the notebooks, use DEFAULT_DEP, or do nothing if not `default_dep`."""
    folders = [p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)) for p in paths]
    deps = []
    for nb_path in find_notebooks(paths):
        for c in nbformat.read(nb_path, as_version=4).cells:
            if c.cell_type == "code":
                deps += [l.strip() for l in c.source.splitlines()
                         if l.strip().startswith(":dep ") and l.strip() not in deps]
    if not deps and not default_dep:
        return 0
    deps = deps or [DEFAULT_DEP]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("\n".join(deps)), nbformat.v4.new_code_cell("1 + 1")]
    log("pre-warming the evcxr build cache (the first time compiles the dependencies: minutes):")
    log(indent("\n".join(deps), prefix="    "))
    start = time.monotonic()
    try:
        run_cells(nb, os.path.abspath(folders[0]), argparse.Namespace(**dict(vars(args), timeout=args.prewarm_timeout)))
    except NotebookFailure as e:
        log("pre-warm FAILED after %.1f s: %s" % (time.monotonic() - start, e))
        return 1
    log("pre-warm done in %.1f s" % (time.monotonic() - start))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="notebooks, or folders of *.ipynb")
    ap.add_argument("--quick", action="store_true", help="set DDPM_QUICK=1 (smallest sizes, as in CI); "
                    "without it DDPM_QUICK is removed from the environment")
    ap.add_argument("--check-clean", action="store_true",
                    help="first fail if a notebook on disk has outputs or execution counts")
    ap.add_argument("--check-only", action="store_true", help="only the --check-clean test; run nothing")
    ap.add_argument("--html", metavar="OUTDIR", help="also write the executed notebooks as HTML, with an index.html")
    ap.add_argument("--prewarm", action="store_true", help="only compile the notebooks' :dep lines once")
    ap.add_argument("--no-prewarm", action="store_true", help="do not compile the :dep lines before the "
                    "first notebook (then a cold first :dep cell counts against the cell timeout)")
    ap.add_argument("--prewarm-timeout", type=int, default=2700,
                    help="seconds for the pre-warm, which compiles all dependencies when cold (default 2700)")
    ap.add_argument("--kernel", default="rust", help="kernel name (default: rust, the venv's)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    ap.add_argument("--startup-timeout", type=int, default=300, help="seconds for the kernel to start")
    ap.add_argument("--slowest", type=int, default=3, help="how many of the slowest cells to list")
    ap.add_argument("--expect-fail", action="store_true",
                    help="self-test of the runner: succeed only if every notebook given FAILS "
                    "(tests/notebooks/ holds deliberately panicking ones)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="run this many notebooks at a time, each in its own kernel and compile-cache slot "
                    "(default 1; make test runs 2)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the time of every cell")
    args = ap.parse_args()

    if args.quick:
        os.environ["DDPM_QUICK"] = "1"
    else:
        os.environ.pop("DDPM_QUICK", None)
    if args.jobs < 1:
        sys.exit("run_notebooks: --jobs %d: expected at least 1" % args.jobs)
    # Kernels run one after another (in each worker, with --jobs): each waits for the previous
    # one to release its warm slot (scripts/evcxr_kernel.py), unless another kernel (JupyterLab?)
    # holds slot 0 already.
    if "DDPM_EVCXR_WAIT" not in os.environ:
        os.environ["DDPM_EVCXR_WAIT"] = "20" if warm_slot_free() else "0"

    if args.prewarm:
        return prewarm(args.paths, args)

    notebooks = find_notebooks(args.paths)
    if args.check_clean or args.check_only:
        dirty = []
        for path in notebooks:
            cells = dirty_cells(nbformat.read(path, as_version=4))
            if cells:
                dirty.append(path)
                log("FAIL %s is saved with outputs or execution counts (cells %s); notebooks are "
                    "committed clean: clear them (JupyterLab: Edit > Clear Outputs of All Cells, then save; or "
                    "`.venv/bin/jupyter nbconvert --clear-output --inplace %s`)"
                    % (path, ", ".join(map(str, cells)), path))
        if dirty:
            log("notebooks: 0 passed, %d failed" % len(dirty))
            return 1
        if args.check_only:
            log("%d notebooks saved without outputs" % len(notebooks))
            return 0
    if not notebooks:
        log("warning: no notebooks found in %s" % " ".join(args.paths))

    start = time.monotonic()
    if notebooks and not args.no_prewarm and prewarm(args.paths, args, default_dep=False) != 0:
        log("notebooks: 0 passed, %d failed" % len(notebooks))
        return 1
    log("running %d notebooks (DDPM_QUICK=%s, kernel %s, cell timeout %d s)"
        % (len(notebooks), os.environ.get("DDPM_QUICK", "unset"), args.kernel, args.timeout))
    results = run_notebooks(notebooks, args)
    failed = [r for r in results if not r["ok"]]
    if args.html:
        write_html(results, args.html)
    log("total %.1f s" % (time.monotonic() - start))
    if args.expect_fail:
        # A notebook may name, in its metadata ddpm.expect_error, text its failure must contain:
        # the check that must bite, so that a compile error elsewhere does not pass for it.
        def verdict(r):
            if r["ok"]:
                return "NOT CAUGHT (the runner passed a failing notebook)"
            want = r["nb"].metadata.get("ddpm", {}).get("expect_error")
            if want and want not in (r["error"] or ""):
                return "FAILED FOR ANOTHER REASON (its error does not contain %r)" % want
            return "caught" + (" (the failure names %r)" % want if want else "")
        verdicts = [verdict(r) for r in results]
        for r, v in zip(results, verdicts):
            log("%s: %s" % (v, r["path"]))
        caught = sum(v.startswith("caught") for v in verdicts)
        log("runner self-test: %d of %d deliberately failing notebooks caught" % (caught, len(results)))
        return 0 if caught == len(results) else 1
    for r in failed:
        log("failed: %s" % r["path"])
    log("notebooks: %d passed, %d failed" % (len(results) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
