"""vitalsign.testing: what connector authors' test suites import (fakes, conformance kit).

The conformance kit (:mod:`vitalsign.testing.conformance`) needs pytest, a development
dependency, so its names load on first use: importing ``vitalsign.testing.fakes`` (which
``vitalsign demo`` does at run time) never imports pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conformance import (
        CHECKS,
        CheckSkipped,
        ConformanceRun,
        ConnectorConformance,
        ConnectorHarness,
        FakeSource,
        Fault,
        FaultInjector,
        SyncResult,
        run_checks,
    )

__all__ = [
    "CHECKS",
    "CheckSkipped",
    "ConformanceRun",
    "ConnectorConformance",
    "ConnectorHarness",
    "FakeSource",
    "Fault",
    "FaultInjector",
    "SyncResult",
    "run_checks",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".conformance", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
