"""The registry of landscapes: one line per landscape, and lookup by name.

``--landscape NAME`` (``landscape`` in a config) chooses among :data:`LANDSCAPES`; the default is
the poster's CNN. A landscape is one module that defines its :class:`~pgd_bench.model.base.Landscape`
record, and one :func:`register_landscape` line here (docs/adding-a-landscape.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .._validate import as_choice
from .base import BY_PARAMS_TYPE, Landscape
from .cnn import CNN, OVERLAPPING

_LANDSCAPES: dict[str, Landscape] = {}
LANDSCAPES: Mapping[str, Landscape] = MappingProxyType(_LANDSCAPES)
DEFAULT_LANDSCAPE = "cnn"


def register_landscape(landscape: Landscape) -> Landscape:
    """Add ``landscape`` to :data:`LANDSCAPES` (its name and its parameters' type must be new).

    Raises
    ------
    ValueError
        If the name or the parameters' type is registered already, or the type is not a
        :class:`typing.NamedTuple` class.
    """
    if not isinstance(landscape, Landscape):
        raise ValueError(f"landscape: expected a Landscape (pgd_bench.model.landscape), got {type(landscape).__name__}")
    if not isinstance(landscape.name, str) or not landscape.name or landscape.name in _LANDSCAPES:
        raise ValueError(f"landscape: {landscape.name!r} is not a new name")
    if not (isinstance(landscape.params_type, type) and issubclass(landscape.params_type, tuple)
            and hasattr(landscape.params_type, "_fields")):  # fmt: skip
        raise ValueError(f"landscape {landscape.name!r}: params_type must be a NamedTuple class")
    if landscape.params_type in BY_PARAMS_TYPE:
        raise ValueError(f"landscape {landscape.name!r}: its params_type is another landscape's")
    _LANDSCAPES[landscape.name] = landscape
    BY_PARAMS_TYPE[landscape.params_type] = landscape
    return landscape


def unregister_landscape(name: str) -> None:
    """Remove a landscape (for tests and notebooks that added one).

    Raises
    ------
    ValueError
        If no landscape of that name is registered.
    """
    landscape = _LANDSCAPES.pop(as_choice("landscape", name, _LANDSCAPES))
    BY_PARAMS_TYPE.pop(landscape.params_type, None)


def landscape_named(name) -> Landscape:
    """The registered landscape called ``name``.

    Raises
    ------
    ValueError
        If there is none (naming the registered ones).
    """
    return _LANDSCAPES[as_choice("landscape", name, _LANDSCAPES)]


register_landscape(CNN)
register_landscape(OVERLAPPING)
