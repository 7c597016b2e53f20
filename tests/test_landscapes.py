"""The landscape seam: a second landscape, registered from outside the package, runs end to end
through ``run``, and the CNN's record is what the engine ran before the seam."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from toy_landscape import TOY, toy_gradient

import pgd_bench
from pgd_bench.engine import RECORD_FIELDS
from pgd_bench.geometry import riemannian_step
from pgd_bench.model.cnn import CNN
from pgd_bench.model.registry import LANDSCAPES, landscape_named, register_landscape, unregister_landscape
from pgd_bench.runs.config import resolve_config
from pgd_bench.runs.execute import run

HERE = Path(__file__).parent


@pytest.fixture
def toy():
    register_landscape(TOY)
    yield TOY
    unregister_landscape("toy")


def test_the_toy_runs_end_to_end_each_trial_follows_plain_numpy_gd_and_every_phase_runs(toy):
    """Then every phase of the engine on it (one test: the toy, defined outside the package, is
    compiled afresh in each process, 13 to 18 s, and two tests ran on two of the suite's workers).
    The algorithms' phases are the landscape's gradient with something around it: on the toy as
    on the CNN, the perturbation shows in the recorded gradient noise, Langevin at T = 0 and
    momentum 0 are GD to the bit, and momentum otherwise moves the trials elsewhere."""
    config = resolve_config(landscape="toy", algorithm="gd", trials=70, epochs=2, iterations=150, eta=0.1)
    result = run(config)
    # the reference: the same starts (the public samplers draw the engine's start streams), the
    # toy's gradient in NumPy and the public Riemannian step, iteration by iteration
    w_star, a_star = config.teacher_arrays()
    w = pgd_bench.sample_sphere(config.trials, config.p, config.seed)
    a = pgd_bench.sample_ball(config.trials, config.k, config.resolved_start_radius(), config.seed)
    for i in range(config.trials):
        wi, ai = w[i], a[i]
        for _ in range(config.epochs * config.iterations):
            g_w, g_a = toy_gradient(wi, ai, w_star, a_star)
            wi, ai = riemannian_step(wi, ai, g_w, g_a, 0.1, 0.1)
        np.testing.assert_allclose(result.w[i], wi, atol=1e-12)
        np.testing.assert_allclose(result.a[i], ai, atol=1e-12)
    # GD is trapped exactly when it starts past the toy's barrier at w.w* = -0.1
    trapped = w @ w_star < -0.1
    counts = result.counts()
    assert counts["spurious"] == trapped.sum() > 0 and counts["global"] == (~trapped).sum() > 0
    assert np.array_equal(result.outcome == 1, trapped)
    # its recorded loss is the toy's, at the final checkpoint
    final_loss = result.records[:, -1, 0]
    expected = [toy.population_loss(result.w[i], result.a[i], w_star, a_star) for i in range(config.trials)]
    np.testing.assert_allclose(final_loss, expected, rtol=1e-12, atol=1e-15)
    # what the toy lacks is refused by name, after the run as before it (test below)
    with pytest.raises(ValueError, match="sharpness.*toy"):
        result.sharpness()

    base = dict(landscape="toy", trials=64, epochs=2, iterations=100, eta=0.1, eta_decay=1.0, scale_steps=False)
    gd = run(resolve_config(algorithm="gd", **base))
    noise = RECORD_FIELDS.index("noise")
    assert np.all(gd.records[:, :, noise] == 0.0)
    pgd = run(resolve_config(algorithm="pgd", rho_w=1.0, rho_a=0.5, **base))
    assert np.all(pgd.records[:, :, noise] > 0.0)
    cold = run(resolve_config(algorithm="langevin", temperature=0.0, **base))
    assert cold.final_state_sha256() == gd.final_state_sha256()
    warm = run(resolve_config(algorithm="langevin", temperature=0.05, **base))
    assert warm.final_state_sha256() != gd.final_state_sha256()
    heavy = run(resolve_config(algorithm="gd", momentum=0.5, **base))
    assert heavy.final_state_sha256() != gd.final_state_sha256()


def test_the_toy_is_compiled_outside_the_kernel_cache_and_the_cnn_inside(toy):
    assert not toy.cacheable  # its kernels live outside the package: an edit of them is not in the key
    assert CNN.cacheable


def test_what_a_landscape_lacks_is_refused_by_name(toy):
    """Before any run (a run's own refusal, of sharpness, is in the end-to-end test above: a run
    of the toy compiles it, 13 to 18 s in each process that does)."""
    with pytest.raises(ValueError, match="batch.*toy"):
        resolve_config(landscape="toy", algorithm="sgd")
    with pytest.raises(ValueError, match="samples.*toy"):
        resolve_config(landscape="toy", samples=100)
    with pytest.raises(ValueError, match="landscape: expected one of"):
        resolve_config(landscape="nope")


def test_the_registry_refuses_a_second_landscape_of_the_same_name_or_params(toy):
    with pytest.raises(ValueError, match="not a new name"):
        register_landscape(toy)
    assert landscape_named("cnn") is CNN and set(LANDSCAPES) == {"cnn", "overlapping", "toy"}


def test_a_landscape_registered_again_with_other_kernels_gets_its_own_block():
    """The compiled block loop was kept per parameters' type: a landscape registered again under
    that type (a notebook's cell run again with other kernels) ran the first one's kernels. (The
    blocks are built lazily: nothing is compiled here.)"""
    import dataclasses

    import numba

    from pgd_bench.engine import block_kernel

    other = dataclasses.replace(
        TOY, grad_lanes=numba.njit(inline="always", error_model="numpy")(TOY.grad_lanes.py_func)
    )
    blocks = []
    for landscape in (TOY, other):
        register_landscape(landscape)
        try:
            blocks.append(block_kernel(landscape.params_type))
            assert block_kernel(landscape.params_type) is blocks[-1]  # built once while it stays
        finally:
            unregister_landscape("toy")
    assert blocks[0] is not blocks[1]
    assert blocks[1].py_func.__globals__["grad_lanes_of"] is other.grad_lanes


def _toy_module(name, edit=("", "")):
    """tests/toy_landscape.py executed afresh as module ``name``, with one text replacement: new
    function objects, as a notebook's cell run again makes them (and, as there, with no file)."""
    import types

    source = (HERE / "toy_landscape.py").read_text()
    assert edit[0] in source
    module = types.ModuleType(name)
    exec(compile(source.replace(*edit), f"<{name}>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(
    "edit",
    [
        ("(-2.0 * work[0, l] - 0.2)", "(-2.0 * work[0, l] - 0.3)"),  # a constant of the gradient kernel
        ("loss[l] += 0.5 * d * d", "loss[l] += 0.25 * d * d"),  # of the loss kernel
        ("return 1.0 - c * c + 0.2 * (1.0 - c)", "return 1.0 - c * c + 0.3 * (1.0 - c)"),  # a helper it calls
        ("(-np.asarray(w_star, float),", "(np.asarray(w_star, float),"),  # the spurious optimum (a lambda)
    ],
)
def test_a_user_landscape_edited_and_registered_again_gets_its_own_cells(toy, edit):
    """The cell cache's key (and so the optima's and the theory's files) covered the package's
    code, not a user's kernels: a notebook cell that edited its landscape and registered it again
    under its name got the cells the old kernels computed. The key now holds the digest of the
    landscape's code, which the same code registered again keeps, in this process and another."""
    import subprocess
    import sys

    from pgd_bench.runs.cache import cell_key

    config = resolve_config(landscape="toy", algorithm="gd", trials=8, epochs=1, iterations=10, eta=0.1)
    first = cell_key(config)
    for name, changed in (("again", ("", "")), ("edited", edit)):
        unregister_landscape("toy")
        register_landscape(_toy_module(name, changed).TOY)
        assert (cell_key(config) == first) == (name == "again"), name
    # the package's landscapes add nothing: their code is the package's source hash
    assert landscape_named("cnn").code_digest == landscape_named("overlapping").code_digest == ""
    # and the digest is the same in a fresh process (no addresses or times in it)
    code = "import sys; sys.path.insert(0, sys.argv[1]); from toy_landscape import TOY; print(TOY.code_digest)"
    proc = subprocess.run([sys.executable, "-c", code, str(HERE)], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == TOY.code_digest, proc.stderr


def test_a_landscape_defined_without_a_file_is_not_cacheable_rather_than_an_error():
    """Classes defined in a notebook (or by exec) have no file: Landscape.cacheable called
    inspect.getfile on the parameters' class, which raised TypeError ("is a built-in class")."""
    assert not _toy_module("notebook").TOY.cacheable


def _defined(source, namespace=None):
    """The function ``k`` that ``source`` defines, with ``namespace`` as its globals."""
    scope = dict(namespace or {})
    exec(source, scope)
    return scope["k"]


def _closure_kernel(scale):
    import numba

    @numba.njit
    def k(x):
        return x * scale

    return k


def test_the_code_digest_sees_the_edits_a_user_makes_and_only_those():
    """What the reviewer found the first digest blind to: a closure's value (a kernel built by a
    factory), a keyword-only default, a helper reached through a user module's attribute, a list
    global and an element in the middle of a large array inside a tuple; a landscape built on the
    package's kernels with its own spurious optimum got an empty digest. Each edit now changes the
    digest, and the same code rebuilt keeps it."""
    import functools
    import types

    from pgd_bench.model.base import code_digest

    assert code_digest(_closure_kernel(0.2)) == code_digest(_closure_kernel(0.2))
    assert code_digest(_closure_kernel(0.2)) != code_digest(_closure_kernel(0.3))
    before, after = (_defined(f"def k(x, *, s={s}):\n    return x * s\n") for s in (0.2, 0.3))
    assert code_digest(before) != code_digest(after)
    library = types.ModuleType("mylib")
    exec("def f(x):\n    return 2 * x\n", library.__dict__)
    helper_user = _defined("def k(x):\n    return mylib.f(x)\n", {"mylib": library})
    first = code_digest(helper_user)
    exec("def f(x):\n    return 3 * x\n", library.__dict__)
    assert code_digest(helper_user) != first
    data = {"table": [1.0, 2.0], "arrays": (np.zeros(2000),)}
    reader = _defined("def k(x):\n    return x + table[0] + arrays[0][1000]\n", data)
    digests = [code_digest(reader)]
    reader.__globals__["table"][0] = 5.0
    digests.append(code_digest(reader))
    reader.__globals__["arrays"][0][1000] = 1.0
    digests.append(code_digest(reader))
    assert len(set(digests)) == 3
    # a library's module is not followed (its version is not the user's edit): math.pi, changed
    # for the test, leaves the digest as it was
    import math

    reads_a_library = _defined("def k(x):\n    return math.pi * x\n", {"math": math})
    first = code_digest(reads_a_library)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(math, "pi", 3.0)
        assert code_digest(reads_a_library) == first
    partials = [functools.partial(toy_gradient, a_star=value) for value in (1, 2)]
    assert code_digest(partials[0]) != code_digest(partials[1])
    cnn = landscape_named("cnn")
    mine = [dataclasses.replace(cnn, name="mycnn", spurious_optimum=lambda w, a, s=s: (s * w, a)) for s in (-1.0, 1.0)]
    assert mine[0].code_digest and mine[0].code_digest != mine[1].code_digest


def test_the_code_digest_does_not_depend_on_the_hash_seed():
    """A set constant (``x in {"a", "b", ...}``) is a frozenset, whose order, and so whose repr,
    depends on PYTHONHASHSEED: three seeds gave three digests of one function."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pgd_bench.model.base import code_digest\n"
            "def k(x):\n    return x in {'a', 'b', 'c', 'd', 'e', 'f'}\nprint(code_digest(k))")  # fmt: skip
    root = str(HERE.parent)
    digests = {
        subprocess.run(
            [sys.executable, "-c", code, root],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout  # fmt: skip
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 16, digests
