"""Metrics comparing generated with simulated telescope images, computed on the host (numpy, scipy).

- Learnt features (any (N, D) array, e.g. the evaluation classifier's penultimate layer):
  `frechet_distance` (Heusel et al. 2017), its extrapolation to infinite sample size
  `frechet_distance_infinity` (Chong & Forsyth 2020; the FPD of Kansal et al. 2023), and the
  classifier two-sample test `classifier_two_sample_auc` (Lopez-Paz & Oquab 2017).
- Physics: `hillas_comparison`, the Wasserstein-1 distance between generated and simulated
  distributions of each Hillas parameter over the simulated standard deviation
  (`wasserstein_1d_normalised`); `response_curves`, the label responses the physics requires
  (mean log10 size against energy, gamma median alpha against source offset, mean width of gammas
  and protons), with standard errors.
- Diversity: `per_label_diversity`, the mean per-pixel variance of the images within each
  (particle type, energy bin) cell; `diversity_ratio` of generated over simulated is ~1 for a
  faithful generator and ~0 under mode collapse.

Hillas parameters are those of `jaxgan.evaluation.hillas`; images without light (size 0: no axis,
no moments) are left out of every Hillas-based measure.
"""

import math
import warnings
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, stats
from sklearn import metrics as sklearn_metrics
from sklearn import model_selection, neural_network, pipeline, preprocessing

from jaxgan import labels as labels_lib
from jaxgan.evaluation import hillas

Labels = Mapping[str, np.ndarray]

GAMMA = labels_lib.PARTICLE_NAMES.index('gamma')
SQRTM_EPS = 1e-6  # added to both covariance diagonals when sqrtm of their product fails
IMAGINARY_TOLERANCE = 1e-3  # relative imaginary part of Tr sqrt(Sa Sb) taken as rounding error
NUM_SIZES = 10  # FD_inf: subset sizes, evenly spaced in 1 / N ...
MIN_SIZE_FRACTION = 0.2  # ... from this fraction of the smaller sample up to all of it
NUM_DRAWS = 5  # FD_inf: random subsets averaged per size
C2ST_HIDDEN = (64,)  # the two-sample classifier's hidden layer (Lopez-Paz & Oquab: one, of 20)
C2ST_MAX_EPOCHS = 200
MIN_C2ST_SAMPLES = 20  # per sample: enough for a stratified split and early stopping


def _features(features: ArrayLike) -> np.ndarray:
  """(N, D) float64 features, checked: 2-d, at least 2 rows, finite."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f'features of shape {features.shape}: expected (N >= 2, D)')
  if not np.isfinite(features).all():
    raise ValueError('features hold NaN or infinite values')
  return features


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean (D,) and unbiased covariance (D, D) of (N, D) features."""
  return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance(features_a: ArrayLike, features_b: ArrayLike) -> float:
  """Frechet distance between Gaussians fitted to two feature samples (Heusel et al. 2017).

  ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with sample means and unbiased
  covariances. It is biased upwards at finite N (see `frechet_distance_infinity`).

  Args:
    features_a: (N_a, D) features.
    features_b: (N_b, D) features.
  """
  features_a, features_b = _features(features_a), _features(features_b)
  if features_a.shape[1] != features_b.shape[1]:
    raise ValueError(f'feature sizes differ: {features_a.shape[1]} and {features_b.shape[1]}')
  (mean_a, cov_a), (mean_b, cov_b) = _moments(features_a), _moments(features_b)
  mean_term = float(np.sum((mean_a - mean_b) ** 2))
  trace_term = float(np.trace(cov_a) + np.trace(cov_b)) - 2 * _trace_sqrt_product(cov_a, cov_b)
  return mean_term + trace_term


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
  """Tr (S_a S_b)^(1/2); retried with SQRTM_EPS on both diagonals if the product is singular
  (e.g. a feature constant in both samples, such as a dead ReLU unit) or sqrtm goes wrong."""
  trace = _try_trace_sqrtm(cov_a @ cov_b)
  if trace is None:
    offset = SQRTM_EPS * np.eye(len(cov_a))
    trace = _try_trace_sqrtm((cov_a + offset) @ (cov_b + offset))
  if trace is None:
    raise ValueError('no matrix square root of the covariance product, even regularised')
  return trace


def _try_trace_sqrtm(product: np.ndarray) -> float | None:
  """Tr sqrtm(product), real: None where scipy finds it singular, or the trace is not finite, or
  its imaginary part (zero in exact arithmetic: the product of two PSD matrices has real,
  non-negative eigenvalues) exceeds rounding error."""
  with warnings.catch_warnings():
    warnings.simplefilter('error', linalg.LinAlgWarning)
    try:
      trace = complex(np.trace(linalg.sqrtm(product)))
    except linalg.LinAlgWarning:
      return None
  finite = math.isfinite(trace.real) and math.isfinite(trace.imag)
  if not finite or abs(trace.imag) > IMAGINARY_TOLERANCE * max(1.0, abs(trace.real)):
    return None
  return trace.real


def default_sizes(num_samples: int) -> np.ndarray:
  """NUM_SIZES subset sizes evenly spaced in 1 / N, from MIN_SIZE_FRACTION of `num_samples` up to
  `num_samples` (fewer if they round to the same integer)."""
  inverse = np.linspace(1 / (MIN_SIZE_FRACTION * num_samples), 1 / num_samples, NUM_SIZES)
  return np.unique(np.round(1 / inverse).astype(int))


def frechet_distance_infinity(features_a: ArrayLike, features_b: ArrayLike,
                              sizes: Sequence[int] | None = None, num_draws: int = NUM_DRAWS,
                              seed: int = 0) -> dict[str, Any]:
  """The Frechet distance extrapolated to infinite sample size (Chong & Forsyth 2020, FID_inf).

  The finite-N estimate is biased upwards by a term linear in 1 / N to leading order. For each
  size N, `num_draws` pairs of subsets of N rows, drawn without replacement (so that each is a
  genuine sample of size N; resampling with replacement would extrapolate to the full-sample
  estimate, bias included), give a mean distance FD(N); a least-squares line in 1 / N through
  those is read at 1 / N = 0. This is the Frechet physics distance of Kansal et al. 2023 given
  other features.

  Args:
    features_a: (N_a, D) features.
    features_b: (N_b, D) features.
    sizes: subset sizes, at least two distinct, each from 2 to min(N_a, N_b);
      default `default_sizes(min(N_a, N_b))`.
    num_draws: subsets averaged per size.
    seed: seed of the subset draws; the result is a deterministic function of it.

  Returns:
    `intercept` (FD_inf), `intercept_error` (its standard error from the fit), `slope`,
    `sizes` (the sizes N) and `distances` (the mean FD(N) at each).
  """
  features_a, features_b = _features(features_a), _features(features_b)
  most = min(len(features_a), len(features_b))
  sizes = default_sizes(most) if sizes is None else np.unique(np.asarray(sizes, int))
  if len(sizes) < 2 or sizes[0] < 2 or sizes[-1] > most:
    raise ValueError(f'sizes {sizes.tolist()}: expected >= 2 distinct sizes in [2, {most}]')
  rng = np.random.default_rng(seed)
  distances = np.array([np.mean([
      frechet_distance(_subset(features_a, size, rng), _subset(features_b, size, rng))
      for _ in range(num_draws)]) for size in sizes])
  fit = stats.linregress(1.0 / sizes, distances)
  return {'intercept': float(fit.intercept), 'intercept_error': float(fit.intercept_stderr),
          'slope': float(fit.slope), 'sizes': sizes, 'distances': distances}


def _subset(rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
  """`size` rows drawn without replacement."""
  return rows[rng.choice(len(rows), size, replace=False)]


def wasserstein_1d_normalised(generated: ArrayLike, simulated: ArrayLike) -> float:
  """Wasserstein-1 distance between two 1-d samples over the simulated standard deviation.

  W1 (`scipy.stats.wasserstein_distance`, the area between the two empirical distribution
  functions) is in the units of the data; dividing by the simulated spread makes it comparable
  across parameters: a pure shift by d standard deviations gives d. Where the simulated values
  do not spread, it is 0 for identical constants and infinite otherwise.
  """
  generated = np.asarray(generated, np.float64).ravel()
  simulated = np.asarray(simulated, np.float64).ravel()
  if not len(generated) or not len(simulated):
    raise ValueError(f'empty sample: {len(generated)} generated, {len(simulated)} simulated')
  distance = stats.wasserstein_distance(generated, simulated)
  spread = np.std(simulated)
  if spread > 0:
    return float(distance / spread)
  return 0.0 if distance == 0 else math.inf


def _with_light(params: hillas.HillasParameters) -> np.ndarray:
  """(B,) bool: images with light (size > 0) whose parameters are all finite."""
  columns = [np.asarray(column, np.float64) for column in params]
  return (columns[0] > 0) & np.all([np.isfinite(column) for column in columns], axis=0)


def hillas_distributions(params: hillas.HillasParameters) -> dict[str, np.ndarray]:
  """Per-image values of each Hillas parameter for the images with light: `log10_size` (the size
  spans decades; on a linear scale its W1 would be set by the few brightest images), then the
  other fields as they are (psi in radians, on a line: orientations near +-pi/2 do not wrap)."""
  keep = _with_light(params)
  values = {name: np.asarray(column, np.float64)[keep]
            for name, column in params._asdict().items()}
  return {'log10_size': np.log10(values.pop('size')), **values}


def hillas_comparison(generated_params: hillas.HillasParameters,
                      simulated_params: hillas.HillasParameters) -> dict[str, float]:
  """`wasserstein_1d_normalised` of each of `hillas_distributions`, generated against simulated.

  Images without light are left out of both; NaN for every parameter where a side has none.
  """
  generated = hillas_distributions(generated_params)
  simulated = hillas_distributions(simulated_params)
  if not len(generated['log10_size']) or not len(simulated['log10_size']):
    return {name: math.nan for name in simulated}
  return {name: wasserstein_1d_normalised(generated[name], simulated[name]) for name in simulated}


class Curve(NamedTuple):
  """A response curve, per bin: its centre `x`, the statistic `value`, its standard error `error`
  and the number of images `count` (value NaN in an empty bin, error NaN below 2 images)."""
  x: np.ndarray
  value: np.ndarray
  error: np.ndarray
  count: np.ndarray


class ResponseBins(NamedTuple):
  """Bin edges of the response curves: `energy` in log10(E / TeV), `offset` (the source's
  distance from the camera centre, |direction|) in degrees."""
  energy: np.ndarray
  offset: np.ndarray


def _offset(labels: Labels) -> np.ndarray:
  return np.linalg.norm(np.asarray(labels['direction'], np.float64), axis=-1)


def response_bins(labels: Labels, num_bins: int = 6) -> ResponseBins:
  """Equal-count bins of the energies and source offsets of `labels` (the simulated ones, so that
  generated and simulated curves share them); tied quantiles are merged."""
  quantiles = np.linspace(0.0, 1.0, num_bins + 1)
  return ResponseBins(np.unique(np.quantile(np.asarray(labels['energy'], np.float64), quantiles)),
                      np.unique(np.quantile(_offset(labels), quantiles)))


def response_curves(params: hillas.HillasParameters, labels: Labels,
                    bins: ResponseBins) -> dict[str, Curve]:
  """The label responses of images with light, given their labels.

  Args:
    params: Hillas parameters of N images.
    labels: their `particletype` (N,) (gamma 1, proton 0), `energy` (N,) in log10(E / TeV) and
      `direction` (N, 2) source position in degrees.
    bins: the energy and offset bin edges (`response_bins`); values outside are left out.

  Returns:
    `log10_size_vs_energy`: mean log10 size per energy bin, all particles (generated and
    simulated share their labels, hence their particle mix);
    `gamma_alpha_vs_offset`: median alpha (degrees) of the gammas per source-offset bin (a proton
    image does not point to the source: its alpha is spread whatever the offset);
    `width_by_particle`: mean width (degrees), x = particle type (0 proton, 1 gamma).
  """
  keep = _with_light(params)
  alpha = np.asarray(hillas.alpha_deg(params, np.asarray(labels['direction'])), np.float64)[keep]
  width = np.asarray(params.width, np.float64)[keep]
  offset = _offset(labels)[keep]
  types = np.asarray(labels['particletype'])[keep]
  gamma = types == GAMMA
  type_edges = np.arange(labels_lib.NUM_PARTICLE_TYPES + 1) - 0.5  # bins centred on each type
  return {
      'log10_size_vs_energy': size_vs_energy(params, labels, bins.energy),
      'gamma_alpha_vs_offset': _binned(offset[gamma], alpha[gamma], bins.offset, _median_and_error),
      'width_by_particle': _binned(types, width, type_edges, _mean_and_error)}


def size_vs_energy(params: hillas.HillasParameters, labels: Labels, energy_bins: ArrayLike,
                   particle: int | None = None) -> Curve:
  """Mean log10 size per energy bin of the images that have light, of one particle type (None:
  all)."""
  keep = _with_light(params)
  if particle is not None:
    keep &= np.asarray(labels['particletype']) == particle
  return _binned(np.asarray(labels['energy'], np.float64)[keep],
                 np.log10(np.asarray(params.size, np.float64)[keep]),
                 np.asarray(energy_bins, np.float64), _mean_and_error)


def gamma_medians(params: hillas.HillasParameters, labels: Labels) -> tuple[float, float]:
  """Median alpha (degrees) and median dist (the light centroid's distance from the labelled
  source, degrees) of the gamma images that have light (NaN when none has)."""
  keep = _with_light(params) & (np.asarray(labels['particletype']) == GAMMA)
  if not keep.any():
    return math.nan, math.nan
  direction = np.asarray(labels['direction'], np.float64)
  alpha = np.asarray(hillas.alpha_deg(params, direction), np.float64)
  dist = np.hypot(direction[:, 0] - np.asarray(params.x), direction[:, 1] - np.asarray(params.y))
  return float(np.median(alpha[keep])), float(np.median(dist[keep]))


def largest_gap(generated: Curve, simulated: Curve) -> float:
  """The largest |generated - simulated| over the bins where both curves are defined (NaN when
  none is)."""
  gaps = np.abs(generated.value - simulated.value)
  gaps = gaps[np.isfinite(gaps)]
  return float(gaps.max()) if len(gaps) else math.nan


def _bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
  """Bin of each x between consecutive `edges` (the last bin closed); -1 outside the edges."""
  return np.where((x >= edges[0]) & (x <= edges[-1]), np.digitize(x, edges[1:-1]), -1)


def _binned(x: np.ndarray, y: np.ndarray, edges: np.ndarray, statistic) -> Curve:
  """`statistic(y)` -> (value, error) in each bin of x (`_bin_index`)."""
  edges = np.asarray(edges, np.float64)
  index = _bin_index(x, edges)
  members = [y[index == k] for k in range(len(edges) - 1)]
  value, error = np.array([statistic(m) for m in members], np.float64).reshape(-1, 2).T
  return Curve((edges[:-1] + edges[1:]) / 2, value, error, np.array([len(m) for m in members]))


def _mean_and_error(values: np.ndarray) -> tuple[float, float]:
  """Mean and its standard error std / sqrt(n) (NaN: mean of none, error below 2 values)."""
  n = len(values)
  if n == 0:
    return math.nan, math.nan
  return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def _median_and_error(values: np.ndarray) -> tuple[float, float]:
  """Median and a distribution-free standard error: half the distance between the order
  statistics of ranks n/2 -+ sqrt(n)/2 (the rank of the median is binomial with standard
  deviation sqrt(n)/2); for a normal sample this tends to the usual 1.2533 sigma / sqrt(n).
  NaN: median of none, error below 2 values."""
  n = len(values)
  if n == 0:
    return math.nan, math.nan
  ordered, half_band = np.sort(values), math.sqrt(n) / 2
  low, high = max(round(n / 2 - half_band), 1) - 1, min(round(n / 2 + half_band), n) - 1
  return float(np.median(ordered)), float(ordered[high] - ordered[low]) / 2 if n > 1 else math.nan


def classifier_two_sample_auc(features_a: ArrayLike, features_b: ArrayLike, seed: int = 0) -> float:
  """Classifier two-sample test (Lopez-Paz & Oquab 2017): ROC AUC of a network telling a from b.

  Equal numbers of rows of each (min(N_a, N_b), drawn without replacement) are pooled and split
  in halves, stratified; an MLP (one hidden layer of 64 ReLU units, standardised inputs, early
  stopping on a tenth of its half) is fitted on one half and scored on the other.
  0.5: indistinguishable; 1: fully separable.
  An MLP rather than a logistic regression because a linear classifier only sees a difference of
  means: a generator with the right mean and too little spread (mode collapse) would pass it.

  Args:
    features_a: (N_a, D) features (or any per-image vectors).
    features_b: (N_b, D) features.
    seed: seed of the draws, the split and the network; the AUC is a deterministic function of it.
  """
  features_a, features_b = _features(features_a), _features(features_b)
  size = min(len(features_a), len(features_b))
  if size < MIN_C2ST_SAMPLES:
    raise ValueError(f'{size} rows per sample: expected at least {MIN_C2ST_SAMPLES}')
  rng = np.random.default_rng(seed)
  pooled = np.concatenate([_subset(features_a, size, rng), _subset(features_b, size, rng)])
  is_b = np.repeat([0, 1], size)
  split_seed, network_seed = (int(s) for s in rng.integers(2 ** 31, size=2))
  train_x, test_x, train_y, test_y = model_selection.train_test_split(
      pooled, is_b, test_size=0.5, stratify=is_b, random_state=split_seed)
  classifier = pipeline.make_pipeline(preprocessing.StandardScaler(), neural_network.MLPClassifier(
      C2ST_HIDDEN, early_stopping=True, max_iter=C2ST_MAX_EPOCHS, random_state=network_seed))
  classifier.fit(train_x, train_y)
  return float(sklearn_metrics.roc_auc_score(test_y, classifier.predict_proba(test_x)[:, 1]))


class Diversity(NamedTuple):
  """Per (particle type, energy bin) cell, shape (NUM_PARTICLE_TYPES, energy bins): `variance`,
  the mean over pixels of the variance across the cell's images (NaN below 2 images), and
  `count`, its number of images."""
  variance: np.ndarray
  count: np.ndarray


def per_label_diversity(images: ArrayLike, labels: Labels, energy_bins: ArrayLike) -> Diversity:
  """How much images vary within each (particle type, energy bin) cell.

  Compare a generator's images with simulated ones for the same labels through
  `diversity_ratio`; both must be in the same units (e.g. photoelectrons).

  Args:
    images: (N, ...) images, e.g. (N, H, W) or (N, H, W, 1).
    labels: their `particletype` (N,) and `energy` (N,) in log10(E / TeV).
    energy_bins: energy bin edges (e.g. `response_bins(...).energy`); energies outside are left
      out.
  """
  images = np.asarray(images).reshape(len(images), -1)
  types = np.asarray(labels['particletype'])
  edges = np.asarray(energy_bins, np.float64)
  index = _bin_index(np.asarray(labels['energy'], np.float64), edges)
  members = [[(types == t) & (index == k) for k in range(len(edges) - 1)]
             for t in range(labels_lib.NUM_PARTICLE_TYPES)]
  variance = np.array([[_pixel_variance(images[m]) for m in row] for row in members])
  return Diversity(variance, np.array([[m.sum() for m in row] for row in members]))


def _pixel_variance(images: np.ndarray) -> float:
  """Mean over pixels of the unbiased variance across (n, P) images; NaN below 2."""
  if len(images) < 2:
    return math.nan
  return float(images.astype(np.float64).var(axis=0, ddof=1).mean())


def diversity_ratio(generated: Diversity, simulated: Diversity) -> np.ndarray:
  """Generated over simulated variance per cell: ~1 when faithful, ~0 under mode collapse; NaN
  where either is undefined or the simulated images do not vary."""
  defined = np.isfinite(generated.variance) & (simulated.variance > 0)
  return np.divide(generated.variance, simulated.variance, out=np.full(defined.shape, math.nan),
                   where=defined)
