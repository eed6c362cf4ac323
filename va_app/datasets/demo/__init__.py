"""The demo world: procedural movies with ground truth, rendered and ingested as a corpus."""
