"""Fidelity targets: when generated telescope events can stand in for simulated ones.

Two tiers, each a list of `Target`s read from an evaluation's metrics (`telescope.METRICS`):
`DEFAULT` for the minutes-long default run (experiments/ctgan.py) and `LONG` for the hour-long
recipe (experiments/ctgan_long.py). `check` gives, for each target, the measured value and
whether it is met; `jaxgan.evaluate` writes both tiers into metrics.json (`targets`) and
summary.md, so every evaluation says how far its run stands from each.
"""

import math
from typing import Callable, Mapping, NamedTuple

Metrics = Mapping[str, float]
JUDGE_MEASURES = ('accuracy', 'energy_mae', 'direction_mae')


class Target(NamedTuple):
  """One target: what it asks (`text`), the measure (metrics -> number) and its bound."""
  text: str
  measure: Callable[[Metrics], float]
  low: float = -math.inf
  high: float = math.inf


def _difference(name: str) -> Callable[[Metrics], float]:
  """|generated - simulated| of the metric `<name>_generated`."""
  return lambda m: abs(m[f'{name}_generated'] - m[f'{name}_simulated'])


def _relative(name: str) -> Callable[[Metrics], float]:
  """|generated / simulated - 1| of the metric `<name>_generated`."""
  return lambda m: abs(m[f'{name}_generated'] / m[f'{name}_simulated'] - 1.0)


def _largest(*measures: Callable[[Metrics], float]) -> Callable[[Metrics], float]:
  return lambda m: max(measure(m) for measure in measures)


def _metric(name: str) -> Callable[[Metrics], float]:
  return lambda m: m[name]


DEFAULT = (
    Target('gamma median alpha <= 5 deg', _metric('gamma_alpha_median_generated'), high=5.0),
    Target('gamma light fraction within 0.05', _difference('light_fraction_gamma'), high=0.05),
    Target('proton light fraction within 0.05', _difference('light_fraction_proton'), high=0.05),
    Target('gamma mean log10 size per energy bin within 0.1', _metric('log10_size_gap_gamma'),
           high=0.1),
    Target('proton mean log10 size per energy bin within 0.1', _metric('log10_size_gap_proton'),
           high=0.1),
    Target('judge accuracy within 0.05', _difference('judge_accuracy'), high=0.05),
    Target('judge energy MAE within 10%', _relative('judge_energy_mae'), high=0.1),
    Target('two-sample AUC <= 0.90', _metric('c2st_auc'), high=0.9),
    Target('FD_inf <= 0.6', _metric('frechet_distance_infinity'), high=0.6),
)

LONG = (
    Target('two-sample AUC <= 0.75', _metric('c2st_auc'), high=0.75),
    Target('FD_inf <= 0.2', _metric('frechet_distance_infinity'), high=0.2),
    Target('every Hillas W1 <= 0.15', lambda m: max(value for name, value in m.items()
                                                    if name.startswith('hillas_w1_')
                                                    and name != 'hillas_w1_mean'), high=0.15),
    Target('gamma median alpha within 1 deg in every offset bin', _metric('gamma_alpha_gap'),
           high=1.0),
    Target('every judge metric within 5%',
           _largest(*(_relative(f'judge_{name}') for name in JUDGE_MEASURES)), high=0.05),
    Target('diversity ratio >= 0.8 in every cell', _metric('diversity_ratio_min'), low=0.8),
    Target('diversity ratio <= 1.2 in every cell', _metric('diversity_ratio_max'), high=1.2),
)

TIERS = {'default': DEFAULT, 'long': LONG}


class Outcome(NamedTuple):
  """A target's measured `value` (NaN where a metric it reads is undefined) and whether it is
  `met`."""
  text: str
  value: float
  met: bool


def _value(target: Target, metrics: Metrics) -> float:
  try:
    value = float(target.measure(metrics))
  except (TypeError, ZeroDivisionError):  # a metric it reads is undefined (None)
    return math.nan
  return value


def check(metrics: Metrics, tier: str) -> list[Outcome]:
  """The outcome of each target of `TIERS[tier]` on an evaluation's `metrics` (undefined metrics
  as None or NaN: such a target is not met)."""
  outcomes = []
  for target in TIERS[tier]:
    value = _value(target, metrics)
    outcomes.append(Outcome(target.text, value, target.low <= value <= target.high))
  return outcomes
