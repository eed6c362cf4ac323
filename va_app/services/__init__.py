"""The service layer, between the entrypoints (the app's pages, the CLI) and the core.

- actions: :mod:`.labelling` (labels, annotations: the one write path) and :mod:`.modelling`
  (builds, model files, scores) — each one unit of work (:mod:`.unit_of_work`), access-checked
  once (:mod:`.access`), its event in the same transaction; :mod:`.jobs` for corpus-wide work
  (ingest, demo, reindex, imports, backup);
- reads: :mod:`.reads` and :mod:`.dashboard` — plain values the pages and the CLI show;
- :mod:`.bootstrap`: builds a corpus's stores, caches (:mod:`.corpus_view`) and actions once
  from the settings.
"""
