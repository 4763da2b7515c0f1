"""vitalsign.testing: what connector authors' test suites import (fakes, conformance kit)."""
