"""Active learning, NumPy in and out: the classifier, the four feeds, the guidance scores.

Pure functions over arrays (no store, no SQL, no Chroma): :mod:`.classifier` fits and scores,
:mod:`.feeds` picks the shots to show next, :mod:`.scores` rates the model and the labels,
:mod:`.clusters` clusters the corpus for the diversity score.
"""
