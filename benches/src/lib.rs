//! Shared generators for Keel benchmarks.
