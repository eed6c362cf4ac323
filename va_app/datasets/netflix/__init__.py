"""The Netflix Video Annotator data release: its file format and its import as a corpus."""
