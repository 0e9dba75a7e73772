"""Probes of the tenancy walk, one module per domain. Each module defines PROBES (root field name →
Probe, or a string saying why a public field names nothing of another account) and may define
`async def setup_b(gql, world)` to create account B's objects its probes name (IDs go in world.b)."""

from __future__ import annotations

import importlib
import pkgutil

PROBES: dict = {}
SETUPS: list = []
B_STATE_FRAGMENTS: list[str] = []  # root fields that snapshot account B, read by B's administrator
for _mod in pkgutil.iter_modules(__path__):
    if _mod.name == "base":
        continue
    module = importlib.import_module(f"{__name__}.{_mod.name}")
    overlap = set(PROBES) & set(module.PROBES)
    assert not overlap, f"probes defined twice: {overlap}"
    PROBES.update(module.PROBES)
    if hasattr(module, "setup_b"):
        SETUPS.append(module.setup_b)
    if hasattr(module, "B_STATE"):
        B_STATE_FRAGMENTS.append(module.B_STATE)
