"""Property-test a pipeline: random histories through the real engine, shrunk counterexamples."""
