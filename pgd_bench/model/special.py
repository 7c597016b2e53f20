"""Special functions compiled for lane kernels: straight-line arithmetic that LLVM vectorises."""

from __future__ import annotations

import numpy as np

from .._jit import jit

# acos coefficients of musl/fdlibm: acos(x) from asin(s) = s + s R(s^2), R = P/Q on [0, 1/4]
_PS0 = 1.66666666666666657415e-01
_PS1 = -3.25565818622400915405e-01
_PS2 = 2.01212532134862925881e-01
_PS3 = -4.00555345006794114027e-02
_PS4 = 7.91534994289814532176e-04
_PS5 = 3.47933107596021167570e-05
_QS1 = -2.40339491173441421878e00
_QS2 = 2.02094576023350569471e00
_QS3 = -6.88283971605453293030e-01
_QS4 = 7.70381505559019352791e-02


@jit
def arccos_kernel(x):
    """``arccos(x)`` for ``x`` in [-1, 1], branch-free, within a few ulp of ``np.arccos``.

    The libm ``acos`` that ``np.arccos`` compiles to is an opaque call, which stops LLVM from
    vectorising the loop over trials around it; this one is straight-line arithmetic (musl's
    rational approximation of ``asin`` on [0, 1/2], and ``acos(|x|) = 2 asin(sqrt((1-|x|)/2))``
    above 1/2), so it compiles to SIMD code.
    """
    ax = abs(x)
    big = ax > 0.5
    z = (1.0 - ax) * 0.5 if big else x * x
    root = np.sqrt(z)
    s = root if big else ax
    p = z * (_PS0 + z * (_PS1 + z * (_PS2 + z * (_PS3 + z * (_PS4 + z * _PS5)))))
    q = 1.0 + z * (_QS1 + z * (_QS2 + z * (_QS3 + z * _QS4)))
    t = s + s * (p / q)  # asin(s), s >= 0
    if big:
        return 2.0 * t if x > 0.0 else np.pi - 2.0 * t
    return 0.5 * np.pi - t if x >= 0.0 else 0.5 * np.pi + t
