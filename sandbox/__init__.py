"""Local stand-ins of the vendor APIs, for tests, benchmarks and the demo; never in production."""
