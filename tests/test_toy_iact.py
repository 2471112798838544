"""Tests of the toy IACT simulator against independent numpy computations.

Image moments (Hillas parameters), the tailcut cleaning and the power-law fit are recomputed here
from the images and labels alone, so each test fails if the simulator's physics is wrong.
"""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan.data import toy_iact

NUM = 2048
GAMMA = labels_lib.PARTICLE_NAMES.index('gamma')
PROTON = labels_lib.PARTICLE_NAMES.index('proton')


def _config(**overrides) -> ml_collections.ConfigDict:
  config = toy_iact.default_config()
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def default_sample():
  return toy_iact.simulate(jax.random.key(0), NUM, _config())


@pytest.fixture(scope='module')
def bright_sample():
  """Bright, noise-free events, so that image moments are those of the shower alone."""
  config = _config(nsb_rate_pe=0.0, electronic_noise_pe=0.0, energy_min_tev=0.3)
  return toy_iact.simulate(jax.random.key(1), 4096, config)


def _charges(u: jax.Array, expected: jax.Array, config: ml_collections.ConfigDict) -> jax.Array:
  return jax.jit(toy_iact.sample_charges, static_argnums=2)(
      u, expected, ml_collections.FrozenConfigDict(config))


def _camera_xy(n: int, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
  coords = (np.arange(n) - (n - 1) / 2) * pixel_size
  return np.meshgrid(coords, coords)  # x varies along columns, y along rows


def _hillas(images: np.ndarray, pixel_size: float = 0.1) -> dict[str, np.ndarray]:
  """Size, centroid, major-axis angle, length and width from second moments (Hillas 1985)."""
  weights = np.clip(images[..., 0].astype(np.float64), 0.0, None)
  x, y = _camera_xy(weights.shape[-1], pixel_size)
  size = weights.sum(axis=(1, 2))
  norm = np.maximum(size, 1e-9)
  mean = lambda f: (weights * f).sum(axis=(1, 2)) / norm
  cx, cy = mean(x), mean(y)
  sxx, syy, sxy = mean(x * x) - cx**2, mean(y * y) - cy**2, mean(x * y) - cx * cy
  half_sum, root = (sxx + syy) / 2, np.sqrt(((sxx - syy) / 2)**2 + sxy**2)
  return {'size': size, 'cx': cx, 'cy': cy, 'psi': 0.5 * np.arctan2(2 * sxy, sxx - syy),
          'length': np.sqrt(half_sum + root), 'width': np.sqrt(np.maximum(half_sum - root, 0.0)),
          'weights': weights, 'x': x, 'y': y}


def _alpha_deg(h: dict[str, np.ndarray], direction: np.ndarray) -> np.ndarray:
  """Angle between the major axis and the line from the centroid to the source, in [0, 90]."""
  dx, dy = direction[:, 0] - h['cx'], direction[:, 1] - h['cy']
  cosine = np.abs(dx * np.cos(h['psi']) + dy * np.sin(h['psi'])) / np.hypot(dx, dy)
  return np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))


def _well_measured(h: dict[str, np.ndarray], direction: np.ndarray) -> np.ndarray:
  """Bright, contained images whose centroid is away from the source (alpha well defined)."""
  dist = np.hypot(direction[:, 0] - h['cx'], direction[:, 1] - h['cy'])
  return (h['size'] > 300) & (np.hypot(h['cx'], h['cy']) < 1.3) & (dist > 0.4)


def _neighbour_count(mask: np.ndarray) -> np.ndarray:
  """Number of set side neighbours of each pixel of (B, n, n), by rolling the images one pixel
  each way and clearing the row or column that wrapped around."""
  count = np.zeros(mask.shape, np.int32)
  for axis in (1, 2):
    for shift, wrapped in ((1, 0), (-1, -1)):
      rolled = np.roll(mask, shift, axis=axis)
      np.moveaxis(rolled, axis, 0)[wrapped] = False
      count += rolled
  return count


def _numpy_tailcut(images: np.ndarray, picture: float, boundary: float) -> np.ndarray:
  """Reference two-level cleaning: picture pixels with a boundary neighbour, and boundary pixels
  with a picture neighbour."""
  above_picture, above_boundary = images >= picture, images >= boundary
  return ((above_picture & (_neighbour_count(above_boundary) > 0))
          | (above_boundary & (_neighbour_count(above_picture) > 0)))


def _truncated_power_law_mle(energies: np.ndarray, low: float, high: float) -> float:
  """Maximum-likelihood index of dN/dE ~ E^g on [low, high], by a grid search over g."""
  grid = np.linspace(-4.0, 0.0, 4001)
  mean_log = np.mean(np.log(energies))
  def log_likelihood(g):
    if abs(g + 1) < 1e-9:
      return -np.log(np.log(high / low)) - mean_log
    return np.log(abs((g + 1) / (high**(g + 1) - low**(g + 1)))) + g * mean_log
  return float(grid[np.argmax([log_likelihood(g) for g in grid])])


def test_same_key_same_result_and_prefix_consistent():
  config = _config()
  key = jax.random.key(7)
  images, labels = toy_iact.simulate(key, 700, config)
  again, again_labels = toy_iact.simulate(key, 700, config)
  prefix, prefix_labels = toy_iact.simulate(key, 300, config)
  np.testing.assert_array_equal(images, again)
  np.testing.assert_array_equal(images[:300], prefix)
  for name in labels:
    np.testing.assert_array_equal(labels[name], again_labels[name])
    np.testing.assert_array_equal(labels[name][:300], prefix_labels[name])


def test_different_keys_differ(default_sample):
  images, labels = toy_iact.simulate(jax.random.key(8), 512, _config())
  assert not np.array_equal(images, default_sample[0][:512])
  assert not np.array_equal(labels['energy'], default_sample[1]['energy'][:512])


def test_simulate_matches_simulate_event(default_sample):
  config = toy_iact.default_config()
  index = 5
  event_key = jax.random.fold_in(jax.random.key(0), index)
  image, labels = jax.jit(toy_iact.simulate_event, static_argnums=1)(
      event_key, ml_collections.FrozenConfigDict(config))
  np.testing.assert_allclose(np.asarray(image), default_sample[0][index], atol=1e-3)
  assert int(labels['particletype']) == default_sample[1]['particletype'][index]
  np.testing.assert_allclose(float(labels['energy']), default_sample[1]['energy'][index], rtol=1e-5)


def test_shapes_dtypes_and_label_ranges(default_sample):
  images, labels = default_sample
  config = _config()
  assert images.shape == (NUM, 43, 43, 1) and images.dtype == np.float32
  assert labels['particletype'].shape == (NUM,) and labels['particletype'].dtype == np.int32
  assert labels['energy'].shape == (NUM,) and labels['energy'].dtype == np.float32
  assert labels['direction'].shape == (NUM, 2) and labels['direction'].dtype == np.float32
  assert set(np.unique(labels['particletype'])) == {GAMMA, PROTON}
  assert np.isfinite(images).all() and (images < 0).any()  # pedestal subtracted
  energy = labels['energy']
  assert energy.min() >= math.log10(config.energy_min_tev) - 1e-6
  assert energy.max() <= math.log10(config.energy_max_tev) + 1e-6
  offset = np.hypot(labels['direction'][:, 0], labels['direction'][:, 1])
  assert offset.max() <= config.direction_cone_deg + 1e-5
  # Uniform in the cone's area: half the events within radius / sqrt(2).
  assert abs(np.mean(offset < config.direction_cone_deg / math.sqrt(2)) - 0.5) < 0.05
  assert abs(np.mean(labels['particletype'] == GAMMA) - config.gamma_fraction) < 0.05


@pytest.mark.parametrize('index', [-2.7, -2.0, -1.0])
def test_energy_inverse_cdf_follows_power_law(index):
  config = _config(energy_index=index)
  u = np.random.default_rng(0).uniform(size=20000).astype(np.float32)
  energies = np.asarray(toy_iact.sample_energy(jnp.asarray(u), config), np.float64)
  fitted = _truncated_power_law_mle(energies, config.energy_min_tev, config.energy_max_tev)
  assert abs(fitted - index) < 0.05


def test_simulated_spectrum_index(default_sample):
  config = _config()
  energies = 10.0**default_sample[1]['energy'].astype(np.float64)
  fitted = _truncated_power_law_mle(energies, config.energy_min_tev, config.energy_max_tev)
  assert abs(fitted - config.energy_index) < 0.1


def test_brighter_images_for_higher_energy(default_sample):
  images, labels = default_sample
  total = images.sum(axis=(1, 2, 3))
  energy = labels['energy']
  low, high = np.quantile(energy, [0.25, 0.75])
  assert total[energy >= high].mean() > 3 * total[energy <= low].mean()
  rank = lambda v: np.argsort(np.argsort(v))
  assert np.corrcoef(rank(energy), rank(total))[0, 1] > 0.3  # ~0.44: dim low-energy events


def test_gamma_axis_points_to_source_proton_axis_does_not(bright_sample):
  images, labels = bright_sample
  h = _hillas(images)
  alpha = _alpha_deg(h, labels['direction'])
  selected = _well_measured(h, labels['direction'])
  gamma = selected & (labels['particletype'] == GAMMA)
  proton = selected & (labels['particletype'] == PROTON)
  assert gamma.sum() > 100 and proton.sum() > 100
  assert np.median(alpha[gamma]) < 5.0
  assert np.median(alpha[proton]) > 2 * np.median(alpha[gamma]) + 3.0


def test_gamma_light_skewed_away_from_source(bright_sample):
  """The compact head faces the source and the tail extends away (third moment along the
  source-to-centroid direction is positive), which breaks the head-tail ambiguity."""
  images, labels = bright_sample
  h = _hillas(images)
  direction = labels['direction']
  gamma = _well_measured(h, direction) & (labels['particletype'] == GAMMA)
  dx, dy = h['cx'] - direction[:, 0], h['cy'] - direction[:, 1]
  norm = np.hypot(dx, dy)
  along = ((h['x'][None] - h['cx'][:, None, None]) * (dx / norm)[:, None, None]
           + (h['y'][None] - h['cy'][:, None, None]) * (dy / norm)[:, None, None])
  third = (h['weights'] * along**3).sum(axis=(1, 2))
  assert np.mean(third[gamma] > 0) > 0.8


def test_protons_wider_than_gammas_at_similar_size(bright_sample):
  images, labels = bright_sample
  h = _hillas(images)
  contained = np.hypot(h['cx'], h['cy']) < 1.3
  for low, high in [(300, 1000), (1000, 30000)]:
    in_bin = contained & (h['size'] > low) & (h['size'] < high)
    gamma = in_bin & (labels['particletype'] == GAMMA)
    proton = in_bin & (labels['particletype'] == PROTON)
    assert gamma.sum() > 20 and proton.sum() > 20
    assert np.median(h['width'][proton]) > 1.3 * np.median(h['width'][gamma])
    ratio = lambda m: np.median(h['width'][m] / h['length'][m])
    assert ratio(proton) > ratio(gamma)


def test_charge_moments_match_compound_poisson():
  """Both charge branches (exact counts below the switch rate, Cornish-Fisher above) have the
  cumulants of a Poisson sum of Gaussian single-pe charges plus Gaussian electronic noise: mean r,
  variance r (1 + s^2) + e^2, third cumulant r (1 + 3 s^2), for rate r = expected + NSB."""
  config = _config()
  s2, e2 = config.single_pe_resolution**2, config.electronic_noise_pe**2
  u = jnp.asarray(np.random.default_rng(1).uniform(size=(400_000,)).astype(np.float32))
  for expected in (0.0, 2.0, 30.0):
    charge = np.asarray(_charges(u, jnp.full(u.shape, expected), config),
                        np.float64)
    rate = expected + config.nsb_rate_pe
    centred = charge - charge.mean()
    assert abs(charge.mean() - expected) < 0.02 * math.sqrt(rate)
    assert np.mean(centred**2) == pytest.approx(rate * (1 + s2) + e2, rel=0.02)
    assert np.mean(centred**3) == pytest.approx(rate * (1 + 3 * s2), rel=0.1)


def test_exact_counts_are_poisson_without_charge_noise():
  config = _config(single_pe_resolution=0.0, electronic_noise_pe=0.0, nsb_rate_pe=0.0)
  u = jnp.asarray(np.random.default_rng(2).uniform(size=(200_000,)).astype(np.float32))
  rate = 2.5
  counts = np.asarray(_charges(u, jnp.full(u.shape, rate), config))
  np.testing.assert_array_equal(counts, np.round(counts))
  observed = np.bincount(counts.astype(int), minlength=12)[:12] / counts.size
  expected = [math.exp(-rate) * rate**k / math.factorial(k) for k in range(12)]
  np.testing.assert_allclose(observed, expected, atol=0.004)


def test_tailcut_equals_reference_cleaning(default_sample):
  config = _config(tailcut=True)
  cleaned, labels = toy_iact.simulate(jax.random.key(0), NUM, config)
  raw = default_sample[0][..., 0]
  mask = _numpy_tailcut(raw, config.tailcut_picture_pe, config.tailcut_boundary_pe)
  np.testing.assert_allclose(cleaned[..., 0], np.where(mask, raw, 0.0), atol=1e-4)
  np.testing.assert_array_equal(labels['energy'], default_sample[1]['energy'])
  survivors = cleaned[..., 0] != 0
  assert survivors.any()
  assert (_neighbour_count(survivors)[survivors] > 0).all()  # no isolated pixel survives
  assert (cleaned[..., 0][survivors] >= config.tailcut_boundary_pe).all()


def test_tailcut_removes_pure_night_sky_background():
  """Without shower light, ~3% of the pixels pass the boundary threshold but next to none (a
  random picture pixel with a boundary neighbour) survives the cleaning."""
  config = _config()
  u = np.random.default_rng(3).uniform(size=(1000, 43, 43)).astype(np.float32)
  noise = np.asarray(_charges(jnp.asarray(u), jnp.zeros(u.shape), config))
  cleaned = camera_lib.tailcut_mask(noise, config.tailcut_picture_pe, config.tailcut_boundary_pe)
  assert np.mean(noise >= config.tailcut_boundary_pe) > 0.01
  assert np.count_nonzero(cleaned) / len(noise) < 0.2  # pixels per image


@pytest.mark.fast
def test_invalid_config_is_rejected():
  with pytest.raises(ValueError, match='energy_min_tev'):
    toy_iact.simulate(jax.random.key(0), 8, _config(energy_min_tev=60.0))
