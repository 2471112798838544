"""Figures comparing generated with simulated images: Hillas histograms and response curves.

- `histograms_png`: one panel per Hillas parameter (`metrics.hillas_distributions`), both
  distributions as step histograms normalised to unit area on shared bins, the normalised W1
  distance in the title; counts on a log scale where they span more than LOG_Y_DECADES decades.
- `response_png`: the three `metrics.response_curves`, generated against simulated, with their
  standard errors as error bars.
- `progress_png`: the evaluations during training (`eval.every`) against iterations and against
  training minutes: what each extra minute of compute bought.

Figures are drawn on bare Agg canvases, without pyplot (no global figure state, nothing to close),
and written under a temporary name and then renamed, so a PNG on disk is never partial.
"""

import os

import numpy as np
from matplotlib import figure
from matplotlib.backends import backend_agg

from jaxgan import labels as labels_lib
from jaxgan.evaluation import hillas
from jaxgan.evaluation import metrics

HISTOGRAM_BINS = 50
RANGE_QUANTILES = (0.005, 0.995)  # of the pooled values: the shared bin range; beyond, end bins
LOG_Y_DECADES = 2.0  # log-scale a histogram whose non-empty simulated bins span more than this
PANEL_INCHES = 3.5
DPI = 100
COLOURS = {'simulated': 'black', 'generated': 'tab:orange'}
X_LABELS = {'log10_size': 'log10 size', 'x': 'x (deg)', 'y': 'y (deg)', 'length': 'length (deg)',
            'width': 'width (deg)', 'psi': 'psi (rad)', 'skewness': 'skewness',
            'kurtosis': 'kurtosis'}
RESPONSE_AXES = {  # curve name -> (x label, y label)
    'log10_size_vs_energy': ('log10(E / TeV)', 'mean log10 size'),
    'gamma_alpha_vs_offset': ('source offset (deg)', 'gamma median alpha (deg)'),
    'width_by_particle': ('particle type', 'mean width (deg)')}
PARTICLE_SHIFT = 0.05  # width panel: generated and simulated points side by side


def histograms_png(generated_params: hillas.HillasParameters,
                   simulated_params: hillas.HillasParameters, path: str) -> None:
  """Writes the Hillas-parameter histograms of generated and simulated images to `path` (PNG).

  Images without light are left out; the simulated ones must include some.
  """
  generated = metrics.hillas_distributions(generated_params)
  simulated = metrics.hillas_distributions(simulated_params)
  distances = metrics.hillas_comparison(generated_params, simulated_params)
  columns = (len(simulated) + 1) // 2
  fig = figure.Figure(figsize=(PANEL_INCHES * columns, PANEL_INCHES * 2), dpi=DPI)
  for axes, name in zip(fig.subplots(2, columns).ravel(), simulated):
    _histogram(axes, generated[name], simulated[name])
    axes.set(xlabel=X_LABELS[name], title=f'W1 / sim. std = {distances[name]:.3f}')
  fig.axes[0].legend(fontsize='small')
  _save(fig, path)


def _histogram(axes, generated: np.ndarray, simulated: np.ndarray) -> None:
  """Both samples on the same bins, values beyond the range counted in the end bins."""
  pooled = np.concatenate([generated, simulated])
  low, high = np.quantile(pooled, RANGE_QUANTILES)
  edges = np.histogram_bin_edges(pooled, HISTOGRAM_BINS, range=(low, high))
  for name, values in (('simulated', simulated), ('generated', generated)):
    axes.hist(np.clip(values, edges[0], edges[-1]), edges, density=True, histtype='step',
              color=COLOURS[name], label=f'{name} ({len(values)})')
  counts = np.histogram(np.clip(simulated, edges[0], edges[-1]), edges)[0]
  if np.log10(counts.max() / counts[counts > 0].min()) > LOG_Y_DECADES:
    axes.set_yscale('log')


def response_png(curves_generated: dict[str, metrics.Curve],
                 curves_simulated: dict[str, metrics.Curve], path: str) -> None:
  """Writes the response curves (`metrics.response_curves`) of generated and simulated images,
  with standard-error bars, to `path` (PNG)."""
  fig = figure.Figure(figsize=(PANEL_INCHES * len(RESPONSE_AXES), PANEL_INCHES), dpi=DPI)
  for axes, (name, (x_label, y_label)) in zip(fig.subplots(1, len(RESPONSE_AXES)),
                                               RESPONSE_AXES.items()):
    shift = PARTICLE_SHIFT if name == 'width_by_particle' else 0.0
    for sign, (label, curve) in zip((-1, 1), (('simulated', curves_simulated[name]),
                                              ('generated', curves_generated[name]))):
      axes.errorbar(curve.x + sign * shift, curve.value, yerr=curve.error, fmt='o-',
                    color=COLOURS[label], capsize=3, label=label)
    axes.set(xlabel=x_label, ylabel=y_label)
  particle_axes = fig.axes[list(RESPONSE_AXES).index('width_by_particle')]
  particle_axes.set_xticks(range(labels_lib.NUM_PARTICLE_TYPES), labels_lib.PARTICLE_NAMES)
  fig.axes[0].legend(fontsize='small')
  _save(fig, path)


PROGRESS_METRICS = {  # evaluation metric -> (axis label, the simulated images' own value)
    'c2st_auc': ('two-sample AUC', 0.5),
    'frechet_distance_infinity': ('FD_inf', 0.0),
    'gamma_alpha_median_generated': ('gamma median alpha (deg)', 'gamma_alpha_median_simulated'),
    'hillas_w1_mean': ('mean Hillas W1', 0.0),
}


def progress_png(rows: list[dict], path: str) -> None:
  """Writes the `PROGRESS_METRICS` of the evaluations during training (metrics.jsonl rows with
  `eval_<metric>` and `train_seconds`) against iterations (top) and training minutes (bottom),
  each with the simulated images' value dashed, to `path` (PNG)."""
  rows = [row for row in rows if 'train_seconds' in row]
  if not rows:
    raise ValueError('no evaluation during training in the metrics (set eval.every > 0)')
  x_axes = {'iteration': [row['step'] for row in rows],
            'training minutes': [row['train_seconds'] / 60 for row in rows]}
  fig = figure.Figure(figsize=(PANEL_INCHES * len(PROGRESS_METRICS), 2 * PANEL_INCHES), dpi=DPI)
  panels = fig.subplots(2, len(PROGRESS_METRICS), squeeze=False)
  for axes_row, (x_label, x) in zip(panels, x_axes.items()):
    for axes, (name, (y_label, reference)) in zip(axes_row, PROGRESS_METRICS.items()):
      y = [row.get(f'eval_{name}', np.nan) for row in rows]
      axes.plot(x, y, 'o-', color=COLOURS['generated'], label='generated')
      if isinstance(reference, str):
        reference = rows[-1].get(f'eval_{reference}', np.nan)
      axes.axhline(reference, color=COLOURS['simulated'], linestyle='--', label='simulated')
      axes.set(xlabel=x_label, ylabel=y_label)
  panels[0][0].legend(fontsize='small')
  _save(fig, path)


def _save(fig: figure.Figure, path: str) -> None:
  """Writes `fig` as a PNG to `path` through a temporary file, creating the folder."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  backend_agg.FigureCanvasAgg(fig)
  fig.tight_layout()
  temporary = f'{path}.tmp'
  try:
    fig.savefig(temporary, format='png')
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)
