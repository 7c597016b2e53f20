"""The ``pgd-bench`` command: ``run`` one experiment, ``reproduce`` the paper.

Bad input gets a one-line message on stderr and exit code 2; Ctrl-C stops cleanly with exit 130.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import signal
import sys

from . import __version__
from ._files import quoted


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a value that starts like a negative number is a value, lists too: argparse's own pattern
        # knows only single numbers, so "--a-star -0.98,0.37" read the list as a flag
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message):  # one line, exit code 2, no usage dump
        sys.stderr.write(f"pgd-bench: error: {message}\n")
        raise SystemExit(2)

    def _print_message(self, message, file=None):
        # --help into a full disk or a closed pipe: say so and fail, not exit 0 having written nothing
        if message:
            try:
                (file or sys.stderr).write(message)
                (file or sys.stderr).flush()
            except OSError as exc:
                sys.stderr.write(f"pgd-bench: error: cannot write the help: {exc.strerror or exc}\n")
                raise SystemExit(1) from None


def _add_config_flags(parser, shown=None) -> None:
    """One flag per command-line field of :class:`~pgd_bench.runs.config.RunConfig`, generated from
    its declaration (help text, type, choices), plus the ``--eta`` shorthand. Only the fields in
    ``shown`` (default: all) are in the help; the others are still read, so that the command can
    refuse them by name (``optima --algorithm pgd``: "not used ..."), not as unknown flags."""
    from .algorithms import ALGORITHMS
    from .model.registry import LANDSCAPES
    from .model.teachers import TEACHERS
    from .runs.config import CONFIG_FIELDS, NOISE_TARGETS, SHORTHANDS
    from .streams import NOISE_LAWS

    choices = {
        "landscape": LANDSCAPES,
        "algorithm": ALGORITHMS,
        "teacher": TEACHERS,
        "noise_law": NOISE_LAWS,
        "noise_on": NOISE_TARGETS,
        "preset": sorted({name for a in ALGORITHMS.values() for name in a.presets}),
    }
    preset_keys = {key for a in ALGORITHMS.values() for preset in a.presets.values() for key in preset}
    preset_keys |= {"eta_w", "eta_a"} if "eta" in preset_keys else set()
    for name, f in CONFIG_FIELDS.items():
        if not f.metadata["flag"]:
            continue
        flag = "--" + name.replace("_", "-")
        default = "" if f.default is None else f" (default {f.default})"
        if name in preset_keys:
            default = " (default: the preset's)" if f.default is None else f" (default: the preset's, else {f.default})"
        if "(default" in f.metadata["help"]:  # it says its own: "--landscape ... (default cnn)" said it twice
            default = ""
        kwargs = {"help": f.metadata["help"] + default if shown is None or name in shown else argparse.SUPPRESS,
                  "default": None}  # fmt: skip
        if name in choices:
            kwargs["choices"] = list(choices[name])
        elif f.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif "tuple" in str(f.type):
            kwargs.update(type=_floats, metavar="X1,X2,...")
        elif "int" in str(f.type):
            kwargs["type"] = int
        else:
            kwargs["type"] = float
        parser.add_argument(flag, **kwargs)
    for name, text in SHORTHANDS.items():
        parser.add_argument("--" + name, type=float, default=None,
                            help=text if shown is None or name in shown else argparse.SUPPRESS)  # fmt: skip


def _add_cluster_flags(parser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS (tcp://host:port)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgd-bench", description="How noise helps gradient methods escape a spurious local optimum.")
    parser.add_argument("--version", action="version", version=f"pgd-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run one algorithm over many random starts and report success rates")
    run.add_argument(
        "--config", metavar="FILE", help="a TOML file of config keys, or the JSON that --json prints; flags override it"
    )
    _add_config_flags(run)
    run.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    run.add_argument(
        "--optima-starts", type=int, metavar="N",
        help="on a landscape with no spurious optimum in closed form (--stride below p): find the optima GD "
        "reaches from N starts (as `pgd-bench optima`; cached per problem) and count the trials that ended at "
        "each; 0 skips the search (default 1000, skipped with a note where p + k > 128; a number above 0 is "
        "refused where the spurious optimum is known)",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    optima = sub.add_parser(
        "optima",
        help="find the stationary points GD reaches (any landscape, e.g. --stride 3): polished, clustered, classified",
    )
    optima.add_argument("--config", metavar="FILE", help="a TOML or JSON config (its problem keys are used)")
    from .runs.optima import PROBLEM_KEYS

    _add_config_flags(optima, shown=PROBLEM_KEYS)  # the search runs plain GD: it takes only the problem
    optima.add_argument("--starts", type=int, default=1000, help="GD starts (default 1000)")
    optima.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    rep = sub.add_parser("reproduce", help="reproduce the paper's figures and write a report")
    rep.add_argument("--quick", action="store_true", help="fewer trials and a coarser grid: every section, in "
                     "about a minute on 2 cores once the engines are compiled (the full run: 20 to 26 "
                     "minutes)")  # fmt: skip
    rep.add_argument("--out", default="pgd-bench-results", help="output folder (default ./pgd-bench-results)")
    rep.add_argument("--force", action="store_true", help="recompute cached cells")
    rep.add_argument(
        "--seed", type=int, default=0, help="seed of every cell (default 0); another seed checks that results hold"
    )
    rep.add_argument("--trials", type=int, help=argparse.SUPPRESS)
    _add_cluster_flags(rep)

    theory = sub.add_parser(
        "theory", help="measure the poster's theory (partial dissipativity, the two epochs, T1) and write a report"
    )
    theory.add_argument("--quick", action="store_true", help="fewer recorded trials: about 10 s on 2 cores once "
                        "the engines are compiled (without it, about 45 s)")  # fmt: skip
    theory.add_argument("--out", default="pgd-bench-theory", help="output folder (default ./pgd-bench-theory)")
    theory.add_argument("--force", action="store_true", help="recompute the cached estimates and figures")
    theory.add_argument("--seed", type=int, default=0, help="seed of every cell (default 0)")
    theory.add_argument("--trials", type=int, help=argparse.SUPPRESS)
    _add_cluster_flags(theory)

    sweep = sub.add_parser("sweep", help="run a grid of configs (a TOML file), on threads or on a Dask cluster")
    sweep.add_argument("file", metavar="CONFIG.toml", help="base config keys, a [grid] table of lists, [[cells]]")
    sweep.add_argument("--out", default="pgd-bench-sweep", help="output folder (default ./pgd-bench-sweep)")
    _add_cluster_flags(sweep)
    sweep.add_argument("--force", action="store_true", help="recompute cached cells")
    sweep.add_argument("--json", action="store_true", help="print one JSON object per cell on stdout")
    sweep.add_argument("--chunk-trials", type=int, help=argparse.SUPPRESS)

    plot = sub.add_parser("plot", help="redraw a results folder's figures from its saved tables (runs nothing)")
    plot.add_argument("results", metavar="RESULTS_DIR", help="a folder written by reproduce or theory")
    plot.add_argument("--out", help="where to write the figures (default: RESULTS_DIR itself)")
    plot.add_argument(
        "--figure", action="append", metavar="NAME", help="only this figure (repeatable), e.g. fig1_success_rates"
    )
    plot.add_argument("--formats", default="png,svg,pdf", metavar="LIST",
                      help="file formats, comma-separated, of png, svg and pdf (default png,svg,pdf)")  # fmt: skip
    return parser


def _number_text(x: float) -> str:
    """``x`` as ``%g`` writes it, or with up to 12 digits where 6 would show another number
    (momentum 0.99999999 read as 1)."""
    short = f"{x:g}"
    return short if float(short) == x else f"{x:.12g}"


def _per_epoch_text(c, settings, decay: float, sep: str = "=") -> str:
    """A schedule as the header prints it: ``name=initial`` for each of ``settings`` (pairs of a
    config field and its per-epoch list field) and ``xDECAY/epoch``; an explicit per-epoch list
    is printed as the values that ran (its initial value and the decay did not apply to it)."""
    lists = [getattr(c, listed) for _, listed in settings]
    if all(values is None for values in lists):
        names = " ".join(f"{name}{sep}{_number_text(getattr(c, name))}" for name, _ in settings)
        return f"{names} x{_number_text(decay)}/epoch"
    parts = []
    for (name, _), values in zip(settings, lists):
        if values is None:
            parts.append(f"{name}{sep}{_number_text(getattr(c, name))} x{_number_text(decay)}/epoch")
        else:
            shown = [_number_text(v) for v in values]
            if len(shown) > 6:
                shown = [*shown[:3], "...", *shown[-2:]]
            parts.append(f"{name}{sep}[{', '.join(shown)}] per epoch")
    return " ".join(parts)


def _format_report(result, found=None) -> str:
    from .algorithms import algorithm_named
    from .engine import OUTCOME_NAMES
    from .model.registry import DEFAULT_LANDSCAPE
    from .stats import wilson_interval

    c = result.config
    sched = c.schedules()
    n = int(result.outcome.size)
    counts = result.counts()
    lines = [
        f"pgd-bench run: {c.algorithm} (preset {c.preset}), "
        + (f"landscape {c.landscape}, " if c.landscape != DEFAULT_LANDSCAPE else "")
        + (f"stride {c.stride}, " if c.stride is not None else "")
        + f"p={c.p}, k={c.k}, "
        f"teacher {c.teacher if c.a_star is None else 'explicit'}, {n} trials, seed {c.seed}",
        f"schedule: {c.epochs} epochs x {c.iterations} iterations, "
        + _per_epoch_text(c, (("eta_w", "eta_w_schedule"), ("eta_a", "eta_a_schedule")), c.eta_decay)
        + (
            f" (curvature-scaled: first epoch eta_w={sched['eta_w'][0]:.3g} eta_a={sched['eta_a'][0]:.3g})"
            if c.scale_steps
            else ""
        )
        + (f", batch {c.batch}" if c.batch else "")
        + (
            f", noise ({c.noise_law}, on {c.noise_on}) "
            + _per_epoch_text(c, (("rho_w", "rho_w_schedule"), ("rho_a", "rho_a_schedule")), c.noise_decay)
            if algorithm_named(c.algorithm).perturbs
            else ""
        )
        + (
            ", "
            + _per_epoch_text(c, (("temperature", "temperature_schedule"),), c.temperature_decay, sep=" ")
            + (f" (curvature-scaled: first epoch {sched['temperature'][0]:.3g})" if c.scale_steps else "")
            if algorithm_named(c.algorithm).temperature
            else ""
        )
        + (f", momentum {_number_text(c.momentum)}" if c.momentum else "")
        + (f", training set of {c.samples} {'(shared)' if c.shared_data else 'per trial'}" if c.samples else "")
        + (f", label noise sigma {c.label_noise:g}" if c.label_noise else "")
        + (
            f"; then {c.polish_epochs} polish epochs at the last epoch's step sizes, without perturbation or "
            "Langevin noise"
            if c.polish_epochs
            else ""
        ),
        "",
        f"{'outcome':<12}{'trials':>8}{'share':>9}   95% Wilson interval",
    ]
    known = all(math.isfinite(x) for x in c.optima()[3])  # a spurious optimum in closed form
    # trials at a zero-loss point other than the teacher (overlapping patches, a*_0 = 0: the teacher
    # shifted by a stride fits exactly) are not within tol of the teacher: their outcome is
    # unconverged though they do not move, while the basins count them global
    other_global = 0 if found is None else found["counts"]["global"] - counts["global"]
    notes = {
        "spurious": "" if known else "   (none known in closed form: see the basins)",
        "unconverged": f"   ({other_global} at another zero-loss optimum: see the basins)" if other_global else "",
    }
    for name in OUTCOME_NAMES:
        low, high = wilson_interval(counts[name], n)
        note = notes.get(name, "")
        lines.append(f"{name:<12}{counts[name]:>8}{counts[name] / n:>9.1%}   [{low:.1%}, {high:.1%}]{note}")
    basins = result.basins()
    if found is not None:
        lines.append(f"basin at the end, against the {len(found['optima'])} optima GD finds from {found['starts']} "
                     f"starts (pgd-bench optima; a trial within {found['near']:g} of one ended there):")  # fmt: skip
        rows = [("at a global optimum (the teacher within tol, or a zero-loss point found)", found["counts"]["global"])]
        for o in found["optima"][1:]:
            label = f"found optimum {o['optimum']}: {o['kind']}, loss {o['loss']:.3g}, GD's share {o['gd_share']:.1%}"
            key = "optimum_" + str(o["optimum"])
            rows.append((label, found["counts"][key]) if key in found["counts"] else
                        (label + " (zero loss: its trials count as global)", "-"))  # fmt: skip
        rows += [("elsewhere (still moving, or at a point the search did not find)", found["counts"]["elsewhere"]),
                 ("diverged", basins["diverged"])]  # fmt: skip
        width = max(len(label) for label, _ in rows)
        lines += [f"  {label:<{width}} {count:>{len(str(n))}}" for label, count in rows]
        basins = {**basins, "global": found["counts"]["global"],
                  "spurious": n - found["counts"]["global"] - found["counts"]["diverged"]}  # fmt: skip
    elif known:
        lines.append(
            f"basin at the end (nearer optimum, whether or not within tol): {basins['global']} global, "
            f"{basins['spurious']} spurious (trapped), {basins['diverged']} diverged"
        )
    else:
        lines.append(
            f"basin at the end: {basins['global']} at the global optimum (within tol), {basins['spurious']} "
            f"elsewhere (no spurious optimum is known in closed form for landscape {c.landscape}: "
            f"'spurious' below counts them), {basins['diverged']} diverged"
        )
    summary = result.summary()

    def by_basin(values, fmt=".3g"):
        return " / ".join("-" if values[b] is None else format(values[b], fmt) for b in ("global", "spurious"))

    groups = "global / spurious" if known else "within tol of the teacher / the rest not diverged"
    lines.append(f"mean by basin ({groups}): test (population) loss {by_basin(summary['test_loss']['by_basin'])}")
    if c.samples:
        lines.append(
            f"  train loss on the trial's {'shared ' if c.shared_data else ''}set of {c.samples}"
            f"{' (noisy labels; the test loss above is against the clean teacher)' if c.label_noise else ''} "
            f"{by_basin(summary['train_loss']['by_basin'])}"
        )
    lines.append(
        f"  sharpness at the end: top Hessian eigenvalue {by_basin(summary['sharpness']['top'])}, "
        f"trace {by_basin(summary['sharpness']['trace'])}"
    )
    lines.append("")
    if counts["diverged"]:
        first = int(result.stop_iteration[result.outcome == OUTCOME_NAMES.index("diverged")].min())
        lines.append(
            f"WARNING: {counts['diverged']} of {n} trials diverged (non-finite values or ||a|| > {c.a_bound:g}); "
            f"the earliest at iteration {first}. The step size is unstable for this noise level."
        )
    lines.append(
        f"throughput: {result.trial_steps_per_second():.3g} trial-steps/s ({result.seconds:.2f} s, compile excluded)"
    )
    return "\n".join(lines)


def merge_file_and_flags(from_file: dict, flags: dict) -> dict:
    """The settings of ``pgd-bench run``: a config file's, overridden by the flags.

    A flag wins over the file, ``--eta`` over the file's ``eta_w`` and ``eta_a`` included. Refused
    (``ValueError``) rather than silently ignored: a flag that a schedule in the file would hide,
    and ``--algorithm`` or ``--preset`` against a file that names another one (its other values
    belong to that algorithm or preset, so the run would only be relabelled).
    """
    for key in ("algorithm", "preset"):
        if key in flags and key in from_file and flags[key] != from_file[key]:
            raise ValueError(
                f"{key}: the config file is for {key} {from_file[key]!r}; its values would run under the label "
                f"{flags[key]!r}. Start from --{key} {flags[key]} without the file, or edit the file"
            )
    from .runs.config import SHADOWED_BY, overlay_settings

    for key in flags:
        schedules = SHADOWED_BY.get(key, ())
        if schedules and all(from_file.get(schedule) is not None for schedule in schedules):
            raise ValueError(
                f"{key}: the config file's {', '.join(schedules)} would override this flag; remove it from the file"
            )
    return overlay_settings(from_file, flags)  # --eta beats the file's eta_w and eta_a


def _config_of(args):
    """The resolved config of ``run`` or ``optima``: the ``--config`` file's keys, then the flags."""
    from .runs.config import CONFIG_FIELDS, SHORTHANDS, load_config_file, resolve_config

    from_file = load_config_file(args.config) if args.config else {}
    flags = {key: value for key in (*CONFIG_FIELDS, *SHORTHANDS) if (value := getattr(args, key, None)) is not None}
    return resolve_config(**merge_file_and_flags(from_file, flags))


def _cmd_run(args) -> int:
    from .console import ProgressBar
    from .runs.execute import run, warm_up

    if sys.stdout is None:  # started with stdout closed: nowhere to put the result
        raise OSError(errno.EBADF, "stdout is closed")

    from .console import compiling_notice, leaving_at_once

    with leaving_at_once():  # resolving the config calls compiled helpers: nothing is written yet
        config = _config_of(args)
    starts = _optima_starts(config, args.optima_starts)  # refused before the compilation and the run
    with compiling_notice(config.algorithm):
        warm_up(config)  # compile (or load the cache) before the progress bar starts its clock
    bar = ProgressBar(f"{config.algorithm}", stream=sys.stderr)
    result = run(config, chunk_size=args.chunk_size, progress=bar, warm=False)
    found = _found_basins(result, starts)
    summary = result.summary()
    if found is not None:
        counts = found["counts"]
        summary["basins"] = {**counts, "spurious": int(result.outcome.size) - counts["global"] - counts["diverged"]}
        summary["basins_meaning"] = found["meaning"]
        summary["found_optima"] = {key: found[key] for key in ("starts", "near", "optima")}
    text = json.dumps(summary) if args.json else _format_report(result, found)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()  # here, so that a failing write is reported, not lost at exit
    return 0


def _optima_starts(config, starts) -> int:
    """``--optima-starts`` checked: 0 (no search) or a number of starts the search can hold; 0 where the
    landscape knows its spurious optimum in closed form (nothing to search for: a number of starts is
    refused there, as a setting the run would ignore). Unset, the default (1000), or 0 with a note
    where the search would take too long. The cache folder is checked here too: a run's result must
    not be lost to a cache that cannot be written after it."""
    from ._provenance import CACHE_ENV, cache_root
    from ._validate import as_int
    from .runs.optima import DEFAULT_STARTS, MAX_SEARCH_DIM, check_starts, optima_cache_dir

    if starts is not None:
        starts = as_int("optima-starts", starts, minimum=0)
    if all(math.isfinite(x) for x in config.optima()[3]):
        if starts:  # as resolve_config refuses a setting the run would ignore (0, no search, is neutral)
            raise ValueError("optima-starts: this landscape knows its spurious optimum in closed form, so there is "
                             "nothing to search; this run would ignore it")  # fmt: skip
        return 0
    if starts is None:
        if config.p + config.k > MAX_SEARCH_DIM:
            sys.stderr.write(f"pgd-bench: not searching the optima (p + k = {config.p + config.k} > {MAX_SEARCH_DIM}: "
                             "it would take minutes); basins count every miss as spurious\n")  # fmt: skip
            return 0
        starts = DEFAULT_STARTS
    if starts == 0:
        return 0
    starts = check_starts(config, starts, name="optima-starts")
    try:
        optima_cache_dir(cache_root() / "optima")
    except ValueError as error:
        raise ValueError(f"optima-starts: the optima's cache folder: {str(error).removeprefix('cache_dir: ')} "
                         f"(set {CACHE_ENV} to a writable folder, or --optima-starts 0)") from error  # fmt: skip
    return starts


def _found_basins(result, starts):
    """Where ``result``'s trials ended against the optima GD finds on its landscape (searched once per
    problem and code, kept in the user cache like compiled kernels); None when there is no search."""
    if not starts:
        return None
    from ._provenance import cache_root
    from .console import ProgressBar
    from .runs.optima import NEAR_FOUND, cached_optima, found_basins, found_optima_summary

    arrays = cached_optima(result.config, cache_root() / "optima", starts,
                           progress=ProgressBar("optima: gd starts", stream=sys.stderr))  # fmt: skip
    meaning = (
        f"global: within tol of the teacher, or within {NEAR_FOUND:g} of a zero-loss point found; optimum_i: "
        f"ended within {NEAR_FOUND:g} of found_optima[i] (the stationary points GD reaches from {starts} "
        "starts, pgd-bench optima), nearest to it; "
        "elsewhere: near none of them (still moving, or at a point the search did not find); spurious: "
        "every trial neither global nor diverged (the sum of the optimum_i and elsewhere); diverged apart"
    )
    return {"counts": found_basins(result, arrays), "optima": found_optima_summary(arrays), "starts": starts,
            "near": NEAR_FOUND, "meaning": meaning}  # fmt: skip


def _format_optima(found) -> str:
    c = found.config
    lines = [
        f"pgd-bench optima: landscape {c.landscape}" + (f", stride {c.stride}" if c.stride is not None else "")
        + f", p={c.p}, k={c.k}, teacher {c.teacher if c.a_star is None else 'explicit a*'}; GD from "
        f"{c.trials} starts (seed {c.seed}), {c.iterations} iterations at eta {c.eta_w:.3g}",
        f"polish: {found.polish}",
        f"kind: {found.test}",
        "",
        f"{'#':>2}  {'kind':<11}{'loss':>10}{'starts':>8}{'share':>8}   95% Wilson      "
        f"{'top':>8}{'trace':>9}{'smallest':>10}{'grad norm':>11}",
    ]  # fmt: skip
    for i, o in enumerate(found.optima):
        interval = f"[{o.share_low:.1%}, {o.share_high:.1%}]"
        line = (f"{i:>2}  {o.kind:<11}{o.loss:>10.4g}{o.starts:>8}{o.share:>8.1%}   {interval:<17}"
                f"{o.top:>8.3g}{o.trace:>9.3g}{o.smallest:>10.3g}{o.grad_norm:>11.1e}")  # fmt: skip
        if o.null_directions_rise is not None:
            line += "  rises along its null directions" if o.null_directions_rise else "  FALLS along a null direction"
        lines.append(line)
    lines.append(f"not polished to a stationary point (diverged, or Newton did not converge): {found.unpolished}")
    return "\n".join(lines)


def _cmd_optima(args) -> int:
    from .console import ProgressBar
    from .runs.optima import find_optima

    if sys.stdout is None:
        raise OSError(errno.EBADF, "stdout is closed")
    from .console import compiling_notice
    from .runs.config import CONFIG_FIELDS, SHORTHANDS
    from .runs.execute import warm_up
    from .runs.optima import PROBLEM_KEYS, check_starts, gd_config

    # the search runs plain GD at its own step: a run flag given here would be silently ignored
    ignored = [key for key in (*CONFIG_FIELDS, *SHORTHANDS) if key not in PROBLEM_KEYS
               and getattr(args, key, None) is not None]  # fmt: skip
    if ignored:
        flags = ", ".join("--" + key.replace("_", "-") for key in ignored)
        raise ValueError(
            f"optima: {flags}: not used (the search runs plain GD from --starts random starts; "
            f"it takes only the problem: {', '.join('--' + k.replace('_', '-') for k in PROBLEM_KEYS)})"
        )
    config = _config_of(args)

    check_starts(config, args.starts)  # before the compilation: a refusal should come at once
    with compiling_notice("gd"):
        warm_up(gd_config(config, 1))  # the engine for the search's GD (the same for any number of starts)
    found = find_optima(config, starts=args.starts, progress=ProgressBar("gd starts", stream=sys.stderr))
    text = json.dumps(found.to_dict()) if args.json else _format_optima(found)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0


def _cmd_reproduce(args) -> int:
    from .report.build import reproduce

    reproduce(out_dir=args.out, quick=args.quick, force=args.force, trials=args.trials, seed=args.seed,
              workers=args.workers, scheduler=args.scheduler)  # fmt: skip
    return 0


def _cmd_theory(args) -> int:
    from .report.build import reproduce
    from .report.sections.theory import theory_measured

    reproduce(out_dir=args.out, quick=args.quick, force=args.force, trials=args.trials, seed=args.seed,
              sections=[theory_measured], workers=args.workers, scheduler=args.scheduler)  # fmt: skip
    return 0


def _cmd_sweep(args) -> int:
    from .sweep import run_sweep

    if args.json and sys.stdout is None:  # asked for JSON lines with nowhere to write them
        raise OSError(errno.EBADF, "stdout is closed")
    run_sweep(args.file, args.out, workers=args.workers, scheduler=args.scheduler, force=args.force,
              chunk_trials=args.chunk_trials, json_lines=sys.stdout if args.json else None)  # fmt: skip
    return 0


def _cmd_plot(args) -> int:
    from .report.build import plot

    formats = tuple(ext.strip().lower() for ext in args.formats.split(",") if ext.strip())
    written = plot(args.results, out_dir=args.out, figures=args.figure, formats=formats)
    drawn = dict.fromkeys(path.suffix[1:] for path in written)  # each once (plot drops repeats), in order
    names = " and ".join(", ".join(ext.upper() for ext in drawn).rsplit(", ", 1))
    count = len(written) // len(drawn)
    sys.stderr.write(f"redrew {count} figure{'s' if count != 1 else ''} ({names}) into {written[0].parent}\n")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``pgd-bench`` command."""
    # started as the command (__main__.entry), not called from Python: only a command about to
    # exit may repoint the process's stdout (_report_failure)
    as_command = getattr(signal.getsignal(signal.SIGINT), "starting", False)
    try:
        _check_thread_count_setting()  # before Numba reads it
        _check_cache_folder_setting()
        parser = build_parser()  # imports the config schema, and with it Numba: seconds on a cold disk
        if as_command:
            from .console import command_interrupt, command_terminate

            signal.signal(signal.SIGINT, command_interrupt)  # from here, Ctrl-C is handled below
            signal.signal(signal.SIGTERM, command_terminate)  # and SIGTERM, the same way
        if not (sys.argv[1:] if argv is None else argv):  # bare ``pgd-bench``: the usage, not an error
            parser.print_help(sys.stdout)
            return 0
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # a usage error (2, said on stderr) or --help (0): a Python caller gets the code
            return stop.code if isinstance(stop.code, int) else 2
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "theory":
            return _cmd_theory(args)
        if args.command == "plot":
            return _cmd_plot(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "optima":
            return _cmd_optima(args)
        return _cmd_reproduce(args)
    except KeyboardInterrupt:
        from .console import was_terminated

        if was_terminated():
            sys.stderr.write("\npgd-bench: terminated\n")
            return 143
        sys.stderr.write("\npgd-bench: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - each kind gets one line; anything else is a bug
        return _report_failure(exc, as_command)


def _check_thread_count_setting() -> None:
    """Refuse a ``NUMBA_NUM_THREADS`` that is not a whole number of threads, 1 or more, naming it:
    Numba, which reads it when imported, stopped every command on 0 or -1 with "Number of threads
    specified must be > 0." (naming nothing), and on ``abc`` printed a warning with a traceback
    and went on with one thread per core."""
    value = os.environ.get("NUMBA_NUM_THREADS")
    if value is None:  # unset: Numba's default, one thread per core (an empty one it warns about)
        return
    try:
        ok = int(value) >= 1
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"NUMBA_NUM_THREADS={quoted(value)}: expected a whole number of threads, 1 or more "
                         "(unset, one per core)")  # fmt: skip


def _check_cache_folder_setting() -> None:
    """Refuse a ``PGD_BENCH_CACHE_DIR`` of blanks: it made a folder named by the blanks in the
    current folder and compiled every kernel there."""
    from ._provenance import CACHE_ENV, blank_folder_setting

    value = blank_folder_setting(CACHE_ENV)
    if value is not None:
        raise ValueError(f"{CACHE_ENV}={quoted(value)}: expected a folder for the compiled kernels (unset, "
                         "the user's cache folder)")  # fmt: skip


def _report_failure(exc: Exception, as_command: bool = False) -> int:
    """One line on stderr for a failure the user can act on, and its exit code; re-raises others.

    A failed write to stdout points it at /dev/null only ``as_command``: in a Python caller (a
    notebook calling :func:`main`) that made every later call's output vanish, its exit code 0."""
    if _raised_by_numba_cache(exc):
        # a damaged compiled-kernel file makes Numba fail while loading it, on every run: remove
        # the folder (this version's own cache) so that the next run compiles afresh
        import shutil

        from ._provenance import kernel_cache_dir

        folder = kernel_cache_dir()
        shutil.rmtree(folder, ignore_errors=True)
        sys.stderr.write(
            f"pgd-bench: error: the compiled-kernel cache {folder} was damaged ({type(exc).__name__}); "
            "it has been removed: run the command again (it compiles afresh)\n"
        )
        return 1
    if isinstance(exc, ValueError):  # bad input
        sys.stderr.write(f"pgd-bench: error: {_one_line(str(exc))}\n")
        return 2
    if isinstance(exc, BrokenPipeError):  # the reader went away (``| head``): stop quietly, as Unix tools do
        if as_command:
            _silence_stdout()
        return 141
    if isinstance(exc, OSError):
        if exc.filename is not None:  # a file the command reads or writes
            sys.stderr.write(f"pgd-bench: error: {_one_line(str(exc.filename))}: {exc.strerror}\n")
        else:  # writing the results to stdout failed (a full device, a closed descriptor)
            if as_command:
                _silence_stdout()
            sys.stderr.write(f"pgd-bench: error: cannot write the output: {_one_line(str(exc.strerror or exc))}\n")
        return 1
    raise exc


def _one_line(text: str) -> str:
    """``text`` with its control characters written as escapes: a message is one line, and a path
    or a value it quotes (a file name holding a line break or a terminal's escape sequence, the
    lines of a hint) cannot add lines or reach the terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _raised_by_numba_cache(exc: BaseException) -> bool:
    """Whether ``exc`` came from Numba loading a cached kernel (its traceback passes there)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith("numba/core/caching.py"):
            return True
        tb = tb.tb_next
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: no stdout at all
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)


if __name__ == "__main__":
    raise SystemExit(main())
