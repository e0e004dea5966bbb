//! keel-engine: the single-pass compiler and its runtime (under construction).
