"""The paper's offline experiments on the Netflix Video Annotator data.

- :mod:`.protocol` — the evaluation protocol both share (hash split, bootstraps, ``get_n``,
  the paper's logistic regression, the AP baseline) and reading the data.
- :mod:`.sample_efficiency` — experiment 1: VA's classifiers against zero-shot, random and
  combined baselines at n = 25 … 1000 annotations (Table 2).
- :mod:`.source_bandit` — experiment 2: choosing the next batch's source with bandits
  (Table 3).
"""

from va_app.research.experiments.protocol import ExperimentData, in_validation
from va_app.research.experiments.sample_efficiency import (
    SampleEfficiencyResult,
    run_sample_efficiency,
)
from va_app.research.experiments.source_bandit import SourceBanditResult, run_source_bandit

__all__ = [
    "ExperimentData",
    "SampleEfficiencyResult",
    "SourceBanditResult",
    "in_validation",
    "run_sample_efficiency",
    "run_source_bandit",
]
