"""The ``pgd-bench`` command and ``python -m pgd_bench``: :func:`entry` starts :func:`pgd_bench.cli.main`.

Its only work of its own is Ctrl-C while the command starts. The imports (Numba, NumPy, the
engine) take from a fraction of a second to several on a cold disk, and an interrupt raised as
``KeyboardInterrupt`` there either printed a traceback from whatever module was loading, or was
swallowed by a bare ``except`` in a dependency's import code, and the run went on to its end.
Until the command is ready to handle it (``cli.main`` installs ``console.command_interrupt`` once
its parser is built), Ctrl-C ends the process at once: nothing has been written yet, so nothing
is lost.
"""

import _signal  # the C module, loaded with the interpreter: ``signal`` itself takes ~10 ms to import
import os


def _leave_while_starting(signum, frame):
    os.write(2, b"\npgd-bench: interrupted\n")
    os._exit(130)


_leave_while_starting.starting = True  # how cli.main recognises it


def entry() -> int:
    """Run the command line with Ctrl-C during start-up ending it at once (exit 130, one line)."""
    _signal.signal(_signal.SIGINT, _leave_while_starting)
    from .cli import main

    code = main()
    # done and reported: a Ctrl-C during the interpreter's shutdown would turn a finished run
    # into exit 130 with no message (seen when it landed just as a run ended)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    return code


if __name__ == "__main__":
    raise SystemExit(entry())
