"""The command line run inside the test process, seen as a subprocess would see it.

Most command-line tests check what a command prints and the exit code it returns. Started as
``python -m pgd_bench``, each paid about 0.4-0.8 s of start-up (importing Numba and loading its
registries and the cached kernels) for a fraction of a second of work: about 60 such processes
were a tenth of the suite's time. :func:`cli` calls :func:`pgd_bench.cli.main` here instead, with
stdout and stderr captured, and keeps what a subprocess would show:

* an exception that escapes ``main`` becomes exit code 1 and its traceback on stderr, as the
  interpreter would print it, so a test that asserts "no traceback" keeps its power;
* every warning is written to the captured stderr, each time it is raised (a fresh process
  shows a warning once per place; pytest would otherwise record it out of sight, and a warning
  raised earlier in this process would not show again).

What needs a process of its own stays one: a thread-count setting (Numba reads it when imported),
signals, a closed or full stdout, a kernel-cache folder, a memory peak, a process that is killed,
and whatever goes to stderr other than through ``sys.stderr`` at the time of the call: Dask's
logging (its handlers hold the stderr of its import), writes to the descriptors themselves, child
processes' output, and what the interpreter prints at exit ("Exception ignored ..."). A command
that hangs ends the test process after :data:`TIMEOUT_S` with every thread's traceback, as the
subprocesses' timeouts did, rather than hanging the suite.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import subprocess
import traceback
import warnings

from pgd_bench.cli import main

TIMEOUT_S = 600  # as the subprocess calls' timeouts


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """``pgd-bench ARGS`` run in this process (in ``cwd`` if given): its exit code, stdout and stderr."""
    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()

    def show(message, category, filename, lineno, file=None, line=None):
        err.write(warnings.formatwarning(message, category, filename, lineno, line))

    faulthandler.dump_traceback_later(TIMEOUT_S, exit=True)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            warnings.showwarning = show
            try:
                code = main(argv)
            except SystemExit as exc:  # as the interpreter: None is 0, a message is printed and 1
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    err.write(f"{exc.code}\n")
            except Exception:  # noqa: BLE001 - what would reach the interpreter: its traceback, exit 1
                err.write(traceback.format_exc())
                code = 1
    finally:
        faulthandler.cancel_dump_traceback_later()
        os.chdir(previous)
    return subprocess.CompletedProcess(["pgd-bench", *argv], code, out.getvalue(), err.getvalue())
