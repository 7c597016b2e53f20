"""The ``pgd-bench`` command: ``run`` one experiment, ``reproduce`` the paper.

Bad input gets a one-line message on stderr and exit code 2; Ctrl-C stops cleanly with exit 130.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        sys.stderr.write(f"pgd-bench: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from .engine import NOISE_LAWS
    from .experiments import ALGORITHMS, NOISE_TARGETS, PRESETS, TEACHERS

    parser = _Parser(prog="pgd-bench", description="How noise helps gradient methods escape a spurious local optimum.")
    parser.add_argument("--version", action="version", version=f"pgd-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run one algorithm over many random starts and report success rates")
    run.add_argument("--config", metavar="FILE.toml", help="TOML file of config keys; flags override it")
    run.add_argument("--algorithm", choices=ALGORITHMS, help="default gd")
    run.add_argument(
        "--preset", choices=sorted(PRESETS), help="schedule preset (default: tuned for sgd/pgd/psgd, paper for gd)"
    )
    run.add_argument("--p", type=int, help="patch dimension (default 6)")
    run.add_argument("--k", type=int, help="number of patches (default 8)")
    run.add_argument("--teacher", choices=TEACHERS, help="family of a* (default alternating)")
    run.add_argument("--teacher-seed", type=int)
    run.add_argument("--a-star", type=_floats, metavar="A1,A2,...", help="explicit teacher weights (k values)")
    run.add_argument("--trials", type=int, help="random starts (default 1000)")
    run.add_argument("--seed", type=int, help="seed of every random stream (default 0)")
    run.add_argument("--epochs", type=int)
    run.add_argument("--iterations", type=int, help="iterations per epoch")
    run.add_argument("--eta", type=float, help="initial step size of both w and a")
    run.add_argument("--eta-w", type=float)
    run.add_argument("--eta-a", type=float)
    run.add_argument("--eta-decay", type=float, help="step-size factor per epoch")
    run.add_argument("--batch", type=int, help="SGD batch size")
    run.add_argument("--rho-w", type=float, help="initial noise radius on w")
    run.add_argument("--rho-a", type=float, help="initial noise radius on a")
    run.add_argument("--noise-decay", type=float, help="noise factor per epoch")
    run.add_argument("--noise-law", choices=NOISE_LAWS)
    run.add_argument("--noise-on", choices=NOISE_TARGETS)
    run.add_argument("--start-radius", type=float, help="radius of the start ball of a (default |1.a*|/sqrt(k))")
    run.add_argument("--tol", type=float, help="squared distance counted as converged (default 1e-2)")
    run.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="M",
        help="record per-trial metrics every M iterations (default 100; epoch ends always)",
    )
    run.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    rep = sub.add_parser("reproduce", help="reproduce the paper's figures and write a report")
    rep.add_argument("--quick", action="store_true", help="fewer trials and a coarser grid (a few minutes)")
    rep.add_argument("--out", default="pgd-bench-results", help="output folder (default ./pgd-bench-results)")
    rep.add_argument("--force", action="store_true", help="recompute cached cells")
    rep.add_argument(
        "--seed", type=int, default=0, help="seed of every cell (default 0); another seed checks that results hold"
    )
    rep.add_argument("--trials", type=int, help=argparse.SUPPRESS)
    return parser


RUN_KEYS = (
    "algorithm",
    "preset",
    "p",
    "k",
    "teacher",
    "teacher_seed",
    "a_star",
    "trials",
    "seed",
    "epochs",
    "iterations",
    "eta",
    "eta_w",
    "eta_a",
    "eta_decay",
    "batch",
    "rho_w",
    "rho_a",
    "noise_decay",
    "noise_law",
    "noise_on",
    "start_radius",
    "tol",
    "checkpoint_every",
)


def _format_report(result) -> str:
    from .engine import OUTCOME_NAMES
    from .stats import wilson_interval

    c = result.config
    sched = c.schedules()
    n = int(result.outcome.size)
    counts = result.counts()
    lines = [
        f"pgd-bench run: {c.algorithm} (preset {c.preset}), p={c.p}, k={c.k}, "
        f"teacher {c.teacher if c.a_star is None else 'explicit'}, {n} trials, seed {c.seed}",
        f"schedule: {c.epochs} epochs x {c.iterations} iterations, "
        f"eta_w={c.eta_w:g} eta_a={c.eta_a:g} x{c.eta_decay:g}/epoch"
        + (
            f" (curvature-scaled: first epoch eta_w={sched['eta_w'][0]:.3g} eta_a={sched['eta_a'][0]:.3g})"
            if c.scale_steps
            else ""
        )
        + (f", batch {c.batch}" if c.batch else "")
        + (
            f", noise ({c.noise_law}, on {c.noise_on}) rho_w={c.rho_w:g} rho_a={c.rho_a:g} x{c.noise_decay:g}/epoch"
            if c.algorithm in ("pgd", "psgd")
            else ""
        ),
        "",
        f"{'outcome':<12}{'trials':>8}{'share':>9}   95% Wilson interval",
    ]
    for name in OUTCOME_NAMES:
        low, high = wilson_interval(counts[name], n)
        lines.append(f"{name:<12}{counts[name]:>8}{counts[name] / n:>9.1%}   [{low:.1%}, {high:.1%}]")
    lines.append("")
    if counts["diverged"]:
        first = int(result.stop_iteration[result.outcome == 2].min())
        lines.append(
            f"WARNING: {counts['diverged']} of {n} trials diverged (non-finite values or ||a|| > {c.a_bound:g}); "
            f"the earliest at iteration {first}. The step size is unstable for this noise level."
        )
    lines.append(
        f"throughput: {result.trial_steps_per_second():.3g} trial-steps/s ({result.seconds:.2f} s, compile excluded)"
    )
    return "\n".join(lines)


def _cmd_run(args) -> int:
    from .experiments import ProgressBar, load_toml, resolve_config, run, warm_up

    overrides = load_toml(args.config) if args.config else {}
    for key in RUN_KEYS:
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    config = resolve_config(**overrides)
    warm_up(config)  # compile (or load the cache) before the progress bar starts its clock
    bar = ProgressBar(f"{config.algorithm}", stream=sys.stderr)
    result = run(config, chunk_size=args.chunk_size, progress=bar, warm=False)
    text = json.dumps(result.summary()) if args.json else _format_report(result)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # here, so that a failing write is reported, not lost at exit
    return 0


def _cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    reproduce(out_dir=args.out, quick=args.quick, force=args.force, trials=args.trials, seed=args.seed)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``pgd-bench`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_reproduce(args)
    except ValueError as exc:
        sys.stderr.write(f"pgd-bench: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\npgd-bench: interrupted\n")
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as Unix tools do
        _silence_stdout()
        return 141
    except OSError as exc:
        if exc.filename is not None:  # a file the command reads or writes
            sys.stderr.write(f"pgd-bench: error: {exc.filename}: {exc.strerror}\n")
        else:  # writing the results to stdout failed (a full device, a closed descriptor)
            _silence_stdout()
            sys.stderr.write(f"pgd-bench: error: cannot write the output: {exc.strerror or exc}\n")
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush cannot fail again."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    raise SystemExit(main())
