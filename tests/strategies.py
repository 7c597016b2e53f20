"""Hypothesis strategies shared by the property tests."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SMALL_FLOATS = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


def vectors(n, elements=SMALL_FLOATS):
    return hnp.arrays(np.float64, n, elements=elements)


@st.composite
def unit_vectors(draw, p):
    v = draw(vectors(p))
    norm = np.linalg.norm(v)
    if norm < 1e-3:  # hypothesis likes zeros; any fixed unit vector is as good a draw
        v = np.zeros(p)
        v[draw(st.integers(0, p - 1))] = 1.0
        return v
    return v / norm


@st.composite
def problems(draw, max_p=8, max_k=8, min_norm=0.1, max_norm=30.0):
    """A random problem and point: (w, a, w_star, a_star) with ||w|| in [min_norm, max_norm]."""
    p = draw(st.integers(1, max_p))
    k = draw(st.integers(1, max_k))
    w_star = draw(unit_vectors(p))
    direction = draw(unit_vectors(p))
    norm = draw(st.floats(min_norm, max_norm))
    a = draw(vectors(k))
    a_star = draw(vectors(k))
    return direction * norm, a, w_star, a_star
