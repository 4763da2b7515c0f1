"""The vitalsign conformance suite, run on the Zendesk connector (harness in conftest.py)."""

from vitalsign.testing import ConnectorConformance


class TestZendeskConformance(ConnectorConformance):
    """Settings and secrets, check, streams, incremental reruns, resume, retries, no leaks."""
