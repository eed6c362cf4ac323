"""Shot search: text, "more like this" and metadata filters over the corpus."""
