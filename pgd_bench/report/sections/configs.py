"""Report section: the configs of every series, to rerun any cell with ``pgd-bench run``."""

from __future__ import annotations

import json

from ..context import Context, Section
from ..shared import convergence_runs, success_grid


def configs(ctx: Context) -> Section:
    conv = convergence_runs(ctx)
    grid = success_grid(ctx)
    # the configs the cells actually ran (with this run's seed and trials), not freshly resolved defaults
    shown = {name: conv[name].config.to_dict() for name in ("gd", "sgd", "pgd", "psgd")}
    shown["pgd (paper)"] = grid[("alternating", 8, "pgd_paper")].config.to_dict()
    text = f"""The resolved configs of figure 2's cells (alternating teacher, k = 8) and of the paper's P-GD cell of
figure 1 (the paper's SGD cells differ from `sgd` by `preset = "paper"`); every other cell differs
only in the teacher, k, noise radii or trials named beside it. Save one as a JSON file and run
`pgd-bench run --config FILE` (or call `resolve_config(**config)`) to repeat it.

```json
{json.dumps(shown, indent=1)}
```"""
    return Section("Configs", text)
