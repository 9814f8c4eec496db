"""Property-based tests: stage semantics and replay under random command interleavings."""
