"""Keys of the corpus facts kept in the catalog's ``corpus_meta`` table (one home for each
spelling: the stored key strings never change, or existing data dirs would lose their facts).
"""

from __future__ import annotations

#: Id of the encoder whose vectors the corpus holds (``"open_clip:…"``, ``"descriptor:v2"`` …).
ENCODER_ID = "encoder_id"
#: A counter bumped in the same transaction as every change to the visible shots or their
#: clusters; readers key their caches on it (see :func:`va_app.store.corpus.visible_shot_ids`).
CORPUS_VERSION = "corpus_version"
#: JSON record of a Netflix data import (source folder, fingerprint, shots, dim).
NETFLIX_IMPORT = "netflix_import"
#: JSON ``{label: {"primary", "secondaries"}}``: who annotated each imported Netflix label how.
NETFLIX_ANNOTATOR_ROLES = "netflix_annotator_roles"
#: ``<token>@<corpus version>`` of the compacted matrix file whose stored clusters, order and
#: row facts describe the visible shots (``va_app.store.matrix``); stale once the version moves.
MATRIX_STAMP = "matrix_stamp"
#: ``<visible shots>@<corpus version>``: recorded with the matrix stamp and carried along by
#: every change to the visible shots in the same transaction (``Catalog.count_shots``).
VISIBLE_SHOTS = "visible_shots"
