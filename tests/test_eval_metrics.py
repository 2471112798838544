"""Evaluation metrics and plots against closed forms and synthetic samples of known structure."""

import math
import os

import numpy as np
import pytest

from jaxgan.evaluation import hillas
from jaxgan.evaluation import metrics
from jaxgan.evaluation import plots
from jaxgan.evaluation import targets


def exact_sample(rng, mean, variances, rotation, n=500):
  """n points whose sample mean is `mean` and whose unbiased sample covariance is exactly
  rotation @ diag(variances) @ rotation.T (a normal sample, whitened, then coloured)."""
  z = rng.normal(size=(n, len(mean)))
  z -= z.mean(axis=0)
  z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
  return mean + (z * np.sqrt(variances)) @ rotation.T


def random_rotation(rng, d):
  return np.linalg.qr(rng.normal(size=(d, d)))[0]


@pytest.mark.parametrize('rotated', [False, True])
def test_frechet_matches_the_closed_form_for_commuting_covariances(rotated):
  rng = np.random.default_rng(0)
  d = 5
  rotation = random_rotation(rng, d) if rotated else np.eye(d)
  mean_a, mean_b = rng.normal(size=d), rng.normal(size=d)
  var_a, var_b = rng.uniform(0.2, 3.0, d), rng.uniform(0.2, 3.0, d)
  a = exact_sample(rng, mean_a, var_a, rotation)
  b = exact_sample(rng, mean_b, var_b, rotation)
  expected = np.sum((mean_a - mean_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
  assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


@pytest.mark.fast
def test_frechet_of_equal_covariances_is_the_squared_mean_difference():
  rng = np.random.default_rng(1)
  d = 6
  rotation, variances = random_rotation(rng, d), rng.uniform(0.1, 4.0, d)
  shift = rng.normal(size=d)
  a = exact_sample(rng, np.zeros(d), variances, rotation)
  b = exact_sample(rng, shift, variances, rotation)
  assert metrics.frechet_distance(a, b) == pytest.approx(np.sum(shift ** 2), rel=1e-8)


def test_frechet_is_near_zero_for_one_distribution_and_grows_with_a_shift():
  rng = np.random.default_rng(2)
  a, b = rng.normal(size=(2, 20000, 4))
  shifts = [0.0, 0.25, 0.5, 1.0, 2.0]
  distances = [metrics.frechet_distance(a, b + [s, 0, 0, 0]) for s in shifts]
  assert distances[0] < 0.005
  assert np.all(np.diff(distances) > 0)
  assert distances == pytest.approx(np.square(shifts), rel=0.03, abs=0.01)  # the true distance


def test_frechet_survives_singular_covariances():
  """A feature constant in both samples (a dead unit) makes the covariance product singular;
  it carries no difference, so the distance is that of the other features."""
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(500, 6)), rng.normal(0.3, 1.2, size=(500, 6))
  a[:, 0] = b[:, 0] = 0.0
  expected = metrics.frechet_distance(a[:, 1:], b[:, 1:])
  assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_frechet_infinity_removes_the_finite_sample_bias(seed):
  rng = np.random.default_rng(seed)
  a, b = rng.normal(size=(2, 2000, 8))
  finite = metrics.frechet_distance(a, b)
  result = metrics.frechet_distance_infinity(a, b, seed=seed)
  assert abs(result['intercept']) < finite
  assert result['slope'] > 0  # the bias grows as 1 / N
  assert len(result['sizes']) == len(result['distances']) == metrics.NUM_SIZES
  assert result['sizes'][-1] == 2000
  again = metrics.frechet_distance_infinity(a, b, seed=seed)
  assert again['intercept'] == result['intercept']


def test_frechet_infinity_of_a_shift_is_the_squared_shift():
  rng = np.random.default_rng(4)
  a, b = rng.normal(size=(2, 3000, 8))
  b[:, 0] += 0.5
  result = metrics.frechet_distance_infinity(a, b, sizes=[600, 1000, 1500, 2000, 3000])
  assert result['intercept'] == pytest.approx(0.25, abs=3 * result['intercept_error'] + 0.01)
  assert abs(result['intercept'] - 0.25) < abs(metrics.frechet_distance(a, b) - 0.25)


@pytest.mark.parametrize('shift', [0.0, 0.5, 2.0])
def test_normalised_wasserstein_of_shifted_normals_is_the_shift(shift):
  rng = np.random.default_rng(5)
  generated, simulated = rng.normal(shift, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
  distance = metrics.wasserstein_1d_normalised(generated, simulated)
  assert distance == pytest.approx(shift, abs=0.03)
  assert metrics.wasserstein_1d_normalised(7 * generated, 7 * simulated) == pytest.approx(distance)


def test_normalised_wasserstein_without_simulated_spread():
  assert metrics.wasserstein_1d_normalised([2.0, 2.0], [2.0, 2.0, 2.0]) == 0.0
  assert metrics.wasserstein_1d_normalised([2.0, 2.1], [2.0, 2.0]) == math.inf


def fake_params(rng, n, x_shift=0.0, size_factor=1.0):
  """Hillas parameters of n images, drawn from fixed distributions (no images needed)."""
  return hillas.HillasParameters(
      size=size_factor * 10 ** rng.normal(2.5, 0.4, n), x=rng.normal(x_shift, 0.5, n),
      y=rng.normal(0.0, 0.5, n), length=rng.gamma(4.0, 0.05, n), width=rng.gamma(4.0, 0.02, n),
      psi=rng.uniform(-np.pi / 2, np.pi / 2, n), skewness=rng.normal(0.0, 0.3, n),
      kurtosis=rng.gamma(6.0, 0.5, n))


@pytest.mark.fast
def test_hillas_comparison_sees_each_parameter():
  rng = np.random.default_rng(6)
  simulated = fake_params(rng, 20000)
  same = metrics.hillas_comparison(fake_params(rng, 20000), simulated)
  assert list(same) == ['log10_size', 'x', 'y', 'length', 'width', 'psi', 'skewness', 'kurtosis']
  assert max(same.values()) < 0.05
  shifted = metrics.hillas_comparison(fake_params(rng, 20000, x_shift=0.5), simulated)
  assert shifted['x'] == pytest.approx(1.0, abs=0.05)  # 0.5 deg = one simulated std
  brighter = metrics.hillas_comparison(fake_params(rng, 20000, size_factor=10.0), simulated)
  assert brighter['log10_size'] == pytest.approx(1 / 0.4, abs=0.1)  # one decade = 2.5 std


def test_hillas_comparison_leaves_out_images_without_light():
  rng = np.random.default_rng(7)
  generated, simulated = fake_params(rng, 3000), fake_params(rng, 3000)
  dark = hillas.HillasParameters(*(np.concatenate([column, np.zeros(500)]) for column in generated))
  broken = dark._replace(kurtosis=np.concatenate([generated.kurtosis, np.full(500, np.nan)]))
  expected = metrics.hillas_comparison(generated, simulated)
  assert metrics.hillas_comparison(dark, simulated) == expected
  assert metrics.hillas_comparison(broken, simulated) == expected
  nothing = generated._replace(size=np.zeros(3000))
  assert all(math.isnan(v) for v in metrics.hillas_comparison(nothing, simulated).values())


def synthetic_events(rng, n=20000):
  """Labels and Hillas parameters with known responses: log10 size = 2 + 1.5 log10 E + N(0, 0.1);
  gamma alpha = 5 deg per deg of source offset, protons' uniform; width 0.1 (gammas) and 0.2
  (protons) deg, spread 0.01 and 0.02."""
  particletype = rng.integers(0, 2, n)
  energy = rng.uniform(-1.0, 2.0, n)
  radius, azimuth = 2.0 * np.sqrt(rng.uniform(size=n)), rng.uniform(0, 2 * np.pi, n)
  direction = radius[:, None] * np.stack([np.cos(azimuth), np.sin(azimuth)], axis=-1)
  gamma = particletype == 1
  alpha = np.where(gamma, 5.0 * radius, rng.uniform(0.0, 90.0, n))
  towards = rng.uniform(0, 2 * np.pi, n)  # direction from the centroid to the source
  centroid = direction - 0.5 * np.stack([np.cos(towards), np.sin(towards)], axis=-1)
  psi = towards + np.radians(alpha) * rng.choice([-1, 1], n)
  psi = (psi + np.pi / 2) % np.pi - np.pi / 2
  width = np.where(gamma, rng.normal(0.1, 0.01, n), rng.normal(0.2, 0.02, n))
  params = hillas.HillasParameters(
      size=10 ** (2 + 1.5 * energy + rng.normal(0.0, 0.1, n)), x=centroid[:, 0],
      y=centroid[:, 1], length=2 * width, width=width, psi=psi, skewness=np.zeros(n),
      kurtosis=np.zeros(n))
  labels = {'particletype': particletype, 'energy': energy, 'direction': direction}
  return params, labels, alpha


def test_response_curves_recover_known_responses():
  rng = np.random.default_rng(8)
  params, labels, alpha = synthetic_events(rng)
  bins = metrics.response_bins(labels)
  curves = metrics.response_curves(params, labels, bins)
  size = curves['log10_size_vs_energy']
  assert size.x == pytest.approx((bins.energy[:-1] + bins.energy[1:]) / 2)
  assert size.value == pytest.approx(2 + 1.5 * size.x, abs=0.02)
  # Within a bin: the noise (0.1) and 1.5 times a uniform spread over the bin's width.
  within = np.sqrt(0.1 ** 2 + (1.5 * np.diff(bins.energy)) ** 2 / 12)
  assert size.error == pytest.approx(within / np.sqrt(size.count), rel=0.1)
  assert size.count.sum() == len(labels['energy'])
  offset = np.linalg.norm(labels['direction'], axis=-1)
  gamma = labels['particletype'] == 1
  index = np.digitize(offset, bins.offset[1:-1])
  expected = [np.median(alpha[gamma & (index == k)]) for k in range(len(bins.offset) - 1)]
  assert curves['gamma_alpha_vs_offset'].value == pytest.approx(expected, abs=0.01)
  particle = curves['width_by_particle']
  assert particle.x.tolist() == [0, 1]
  assert particle.value == pytest.approx([0.2, 0.1], abs=0.002)
  assert particle.error == pytest.approx(np.array([0.02, 0.01]) / np.sqrt(particle.count), rel=0.1)


def test_particle_measures_recover_known_sizes_and_alphas():
  """Protons made 0.3 decades dimmer than their simulated selves and gammas unchanged: the
  proton size gap is 0.3 and the gamma one 0; the gamma medians are those `synthetic_events`
  drew."""
  rng = np.random.default_rng(10)
  params, labels, alpha = synthetic_events(rng)
  proton = labels['particletype'] == 0
  dimmer = params._replace(size=np.where(proton, params.size / 10 ** 0.3, params.size))
  bins = metrics.response_bins(labels)
  gaps = [metrics.largest_gap(metrics.size_vs_energy(dimmer, labels, bins.energy, particle),
                              metrics.size_vs_energy(params, labels, bins.energy, particle))
          for particle in (0, 1)]
  assert gaps == pytest.approx([0.3, 0.0], abs=1e-9)
  gamma = ~proton
  alpha_median, dist_median = metrics.gamma_medians(params, labels)
  assert alpha_median == pytest.approx(np.median(alpha[gamma]), abs=0.01)
  assert dist_median == pytest.approx(0.5)  # every centroid lies 0.5 deg from its source
  dark = params._replace(size=np.zeros_like(params.size))
  assert all(math.isnan(value) for value in metrics.gamma_medians(dark, labels))


def test_targets_are_met_only_within_their_bounds():
  values = {'c2st_auc': 0.74, 'frechet_distance_infinity': 0.3, 'gamma_alpha_gap': 0.5,
            'hillas_w1_mean': 0.9, 'hillas_w1_width': 0.1, 'hillas_w1_psi': 0.14,
            'diversity_ratio_min': 0.85, 'diversity_ratio_max': 1.3,
            **{f'judge_{name}_{side}': value for name in targets.JUDGE_MEASURES
               for side, value in (('generated', 1.04), ('simulated', 1.0))}}
  outcomes = {outcome.text: outcome for outcome in targets.check(values, 'long')}
  assert [text for text, outcome in outcomes.items() if not outcome.met] == [
      'FD_inf <= 0.2', 'diversity ratio <= 1.2 in every cell']
  assert outcomes['every Hillas W1 <= 0.15'].value == pytest.approx(0.14)  # the mean is left out
  assert outcomes['every judge metric within 5%'].value == pytest.approx(0.04)
  values['c2st_auc'] = None  # undefined: not met
  assert not targets.check(values, 'long')[0].met


def test_response_curves_leave_out_images_without_light_and_empty_bins():
  rng = np.random.default_rng(9)
  params, labels, _ = synthetic_events(rng, n=2000)
  params = params._replace(size=np.where(np.arange(2000) < 500, 0.0, params.size))
  bins = metrics.ResponseBins(np.array([-1.0, 0.5, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))
  size = metrics.response_curves(params, labels, bins)['log10_size_vs_energy']
  assert size.count.sum() == 1500 and size.count[-1] == 0
  assert math.isnan(size.value[-1]) and math.isnan(size.error[-1])


def test_median_error_is_the_normal_theory_error_for_a_normal_sample():
  rng = np.random.default_rng(10)
  params, labels, _ = synthetic_events(rng, n=8000)
  n = len(labels['energy'])
  labels['particletype'] = np.ones(n, int)
  source = labels['direction']
  towards = rng.uniform(0, 2 * np.pi, n)
  psi = towards + np.radians(rng.normal(30.0, 3.0, n))
  params = params._replace(x=source[:, 0] - 0.5 * np.cos(towards),
                           y=source[:, 1] - 0.5 * np.sin(towards),
                           psi=(psi + np.pi / 2) % np.pi - np.pi / 2)
  bins = metrics.ResponseBins(np.array([-1.0, 2.0]), np.array([0.0, 2.0]))
  curve = metrics.response_curves(params, labels, bins)['gamma_alpha_vs_offset']
  assert curve.error[0] == pytest.approx(np.sqrt(np.pi / 2) * 3.0 / np.sqrt(n), rel=0.15)
  assert curve.value[0] == pytest.approx(30.0, abs=3 * curve.error[0])


def test_two_sample_auc_is_a_half_for_one_distribution():
  rng = np.random.default_rng(11)
  a, b = rng.normal(size=(2, 2000, 8))
  auc = metrics.classifier_two_sample_auc(a, b, seed=0)
  assert auc == pytest.approx(0.5, abs=0.05)
  assert metrics.classifier_two_sample_auc(a, b, seed=0) == auc


def test_two_sample_auc_is_near_one_for_a_shift_and_for_a_collapsed_spread():
  rng = np.random.default_rng(12)
  a, b = rng.normal(size=(2, 2000, 8))
  assert metrics.classifier_two_sample_auc(a, b + 1.5, seed=0) > 0.95
  assert metrics.classifier_two_sample_auc(a, 0.3 * b, seed=0) > 0.95  # same mean, less spread


def cell_labels(rng, n=4000):
  return {'particletype': rng.integers(0, 2, n), 'energy': rng.uniform(0.0, 3.0, n)}


def cell_images(rng, labels):
  """8x8 images of N(0, sigma^2) pixels, sigma = 1 + particletype + energy bin (0..2)."""
  sigma = 1.0 + labels['particletype'] + np.floor(labels['energy'])
  return sigma[:, None, None] * rng.normal(size=(len(sigma), 8, 8))


def test_diversity_is_the_pixel_variance_per_cell_and_its_ratio_shows_collapse():
  rng = np.random.default_rng(13)
  edges = np.array([0.0, 1.0, 2.0, 3.0])
  labels = cell_labels(rng)
  simulated_images = cell_images(rng, labels)
  simulated = metrics.per_label_diversity(simulated_images, labels, edges)
  expected = (1.0 + np.arange(2)[:, None] + np.arange(3)[None, :]) ** 2
  assert simulated.variance == pytest.approx(expected, rel=0.1)
  assert simulated.count.sum() == len(simulated_images)
  generated_images = cell_images(rng, labels)[..., None]  # (N, H, W, 1) as generators give
  same = metrics.per_label_diversity(generated_images, labels, edges)
  assert metrics.diversity_ratio(same, simulated) == pytest.approx(np.ones((2, 3)), abs=0.1)
  collapsed_images = simulated_images[:1] + 1e-3 * rng.normal(size=simulated_images.shape)
  collapsed = metrics.per_label_diversity(collapsed_images, labels, edges)
  assert np.all(metrics.diversity_ratio(collapsed, simulated) < 0.01)


@pytest.mark.fast
def test_png_writers_write_whole_files(tmp_path):
  rng = np.random.default_rng(15)
  params, labels, _ = synthetic_events(rng, n=3000)
  generated = params._replace(size=np.where(np.arange(3000) < 100, 0.0, params.size))
  histograms = os.path.join(tmp_path, 'nested', 'hillas.png')
  plots.histograms_png(generated, params, histograms)
  bins = metrics.response_bins(labels)
  bins = bins._replace(energy=np.append(bins.energy, 5.0))  # an empty bin: NaN points
  curves = metrics.response_curves(params, labels, bins)
  response = os.path.join(tmp_path, 'response.png')
  plots.response_png(metrics.response_curves(generated, labels, bins), curves, response)
  for path in (histograms, response):
    with open(path, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert sorted(os.listdir(tmp_path)) == ['nested', 'response.png']
  assert os.listdir(os.path.join(tmp_path, 'nested')) == ['hillas.png']
