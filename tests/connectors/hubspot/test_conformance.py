"""The HubSpot connector passes the conformance kit every connector is held to."""

from __future__ import annotations

import pytest
from vitalsign.testing import ConnectorConformance
from vitalsign.testing.fakes.hubspot import HubSpotHarness


class TestHubSpotConformance(ConnectorConformance):
    @pytest.fixture
    def harness(self) -> HubSpotHarness:
        return HubSpotHarness()
