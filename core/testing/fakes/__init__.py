"""Fakes of the source APIs, shared by the tests, the benchmarks and ``vitalsign demo``."""
