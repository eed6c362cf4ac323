"""Corpora that come with the tool: the procedural demo world and the Netflix VA data import."""
