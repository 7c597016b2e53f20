"""What a long command says on stderr while it works: progress bars, notices and the compiling
notice; and what Ctrl-C does to it while it compiles."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time


def notice(message: str) -> None:
    """One line on stderr that a run goes on after, on a line of its own (after a progress bar):
    ``pgd-bench: message``. For what the user should know but need not act on (a damaged cached
    file that is computed again)."""
    sys.stderr.write(f"\npgd-bench: {message}\n")


class ProgressBar:
    """Progress on stderr, shown only once a run has lasted ``delay`` seconds.

    On a terminal, one line redrawn in place (at most five times a second); elsewhere (a log file,
    a pipe, CI), a plain line every ``log_every`` seconds and at the end, with no carriage returns.
    """

    def __init__(self, label: str, delay: float = 1.0, stream=None, log_every: float = 10.0):
        self.label = label
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.shown = False
        self.last_draw = 0.0
        try:
            self.terminal = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.terminal = False
        self.interval = 0.2 if self.terminal else log_every

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if self.stream is None or (not self.shown and elapsed < self.delay):
            return  # short runs print nothing
        if done < total and elapsed - self.last_draw < self.interval:
            return
        self.shown = True
        self.last_draw = elapsed
        width = 30
        filled = int(width * done / max(total, 1))
        eta = elapsed / max(done, 1) * (total - done)
        text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.1f}s eta {eta:4.0f}s"
        if self.terminal:
            line = "\r" + text + ("\n" if done >= total else "")
        else:
            line = text + "\n"
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, AttributeError, ValueError):  # stderr closed or full: the run matters more
            self.stream = None


@contextlib.contextmanager
def compiling_notice(what: str, after: float = 1.5):
    """Say on stderr that the engine is compiling when loading it takes more than ``after``
    seconds: a cache hit takes well under one, a first compilation 9 to 15 s per variant."""

    def notice():
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sys.stderr.write(f"pgd-bench: compiling the engine for {what} (first run of this version only) ...\n")
            sys.stderr.flush()

    timer = threading.Timer(after, notice)
    timer.daemon = True
    timer.start()
    try:
        with leaving_at_once():
            yield
    finally:
        timer.cancel()


_LEAVE_AT_ONCE = [0]  # how many leaving_at_once blocks are open (compiling_notice opens one)


@contextlib.contextmanager
def leaving_at_once():
    """Within: Ctrl-C ends the command at once (see :func:`command_interrupt`). For the phases that
    write nothing and may compile or load kernels: a command's set-up and every compilation."""
    _LEAVE_AT_ONCE[0] += 1
    try:
        yield
    finally:
        _LEAVE_AT_ONCE[0] -= 1


_TERMINATED = [False]  # whether the interrupt being handled came from SIGTERM


def command_terminate(signum, frame):
    """The command line's SIGTERM handler (``kill``, a batch scheduler ending a job): stops the
    command as Ctrl-C does (:func:`command_interrupt`: the lock released, nothing half-written
    trusted), reported as terminated, exit 143. Without it the process ended silently."""
    _TERMINATED[0] = True
    if _LEAVE_AT_ONCE[0] > 0:
        os.write(2, b"\npgd-bench: terminated\n")
        os._exit(143)
    sys.unraisablehook = lambda unraisable: None
    raise KeyboardInterrupt


def was_terminated() -> bool:
    """Whether the command is stopping on SIGTERM rather than Ctrl-C."""
    return _TERMINATED[0]


def command_interrupt(signum, frame):
    """The command line's Ctrl-C handler (installed by ``cli.main``, never by the API).

    Outside a :func:`leaving_at_once` block: ``KeyboardInterrupt``, as Python's own handler raises
    it, so that the command stops where it is and says so. Inside one (a compilation, a command's
    set-up): the process ends at once, exit 130 and one line. Numba loads a cached kernel through an LLVM
    callback, and an exception raised there is printed as "Exception ignored" and dropped: the
    interrupt was lost and the run went on to its end (seen). A compilation writes nothing of
    ours, and Numba writes its cache files whole (a temporary file, then a rename), so leaving
    at once loses only the compilation.
    """
    if _LEAVE_AT_ONCE[0] > 0:
        os.write(2, b"\npgd-bench: interrupted\n")
        os._exit(130)
    # an object half-built when the interrupt landed (llvmlite's, seen) can fail in its __del__ at
    # exit: Python prints that as "Exception ignored ... Traceback" after the one line. The command
    # is stopping; nothing it could say then is worth a traceback.
    sys.unraisablehook = lambda unraisable: None
    raise KeyboardInterrupt
