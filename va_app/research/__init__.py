"""Research tools over the core: the paper's experiments, the oracle simulator, benchmarks."""
