"""Runs the vitalsign CLI with the toy plugin registered (for subprocess tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import toy_plugin
from vitalsign.core.cli import main
from vitalsign.core.plugins import register

register(toy_plugin, "toy")
main(sys.argv[1:])
