"""Hillas parameters against analytic Gaussian ellipses, a numpy eigen-decomposition and ctapipe."""

import jax
import numpy as np
import pytest

from jaxgan.data import toy_iact
from jaxgan.evaluation import hillas
from tests.helpers import gaussian_ellipse

PIXEL = 0.1
N = 43


@pytest.mark.parametrize('x0,y0,length,width,psi', [
    (0.3, -0.2, 0.3, 0.1, 0.5), (-0.5, 0.4, 0.25, 0.08, -1.2), (0.0, 0.0, 0.4, 0.15, 1.4)])
def test_recovers_an_analytic_ellipse(x0, y0, length, width, psi):
  image = gaussian_ellipse(x0, y0, length, width, psi)
  p = hillas.hillas_parameters(image[None].astype(np.float32), PIXEL)
  assert float(p.size[0]) == pytest.approx(1000.0, rel=1e-4)
  assert (float(p.x[0]), float(p.y[0])) == pytest.approx((x0, y0), abs=1e-4)
  # A pixel adds its box variance p^2 / 12 along both axes (sampling a smooth profile).
  assert float(p.length[0]) == pytest.approx(length, rel=0.02)
  assert float(p.width[0]) == pytest.approx(width, rel=0.05)
  assert float(p.psi[0]) == pytest.approx(psi, abs=1e-3)


def test_matches_numpy_eigen_decomposition_on_random_images():
  rng = np.random.default_rng(0)
  images = rng.gamma(0.3, 5.0, (5, N, N)).astype(np.float32)
  p = hillas.hillas_parameters(images, PIXEL)
  coords = (np.arange(N) - (N - 1) / 2) * PIXEL
  x, y = np.meshgrid(coords, coords)
  for k, image in enumerate(images.astype(np.float64)):
    w = image / image.sum()
    mean = np.array([(w * x).sum(), (w * y).sum()])
    d = np.stack([x - mean[0], y - mean[1]])
    cov = np.einsum('ihw,jhw,hw->ij', d, d, w)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    assert float(p.length[k]) == pytest.approx(np.sqrt(eigenvalues[1]), rel=1e-4)
    assert float(p.width[k]) == pytest.approx(np.sqrt(eigenvalues[0]), rel=1e-4)
    axis = eigenvectors[:, 1]
    assert abs(np.cos(float(p.psi[k])) * axis[1] - np.sin(float(p.psi[k])) * axis[0]) < 1e-3


def test_alpha_is_the_angle_between_axis_and_source_line():
  image = gaussian_ellipse(0.5, 0.0, 0.3, 0.1, 0.0)[None].astype(np.float32)
  p = hillas.hillas_parameters(image, PIXEL)
  on_axis = hillas.alpha_deg(p, np.array([[-0.5, 0.0]]))
  across = hillas.alpha_deg(p, np.array([[0.5, 0.7]]))
  diagonal = hillas.alpha_deg(p, np.array([[0.0, 0.5]]))
  assert float(on_axis[0]) == pytest.approx(0.0, abs=0.1)
  assert float(across[0]) == pytest.approx(90.0, abs=0.1)
  assert float(diagonal[0]) == pytest.approx(45.0, abs=0.1)


def test_miss_is_the_distance_from_source_to_axis():
  image = gaussian_ellipse(0.5, 0.0, 0.3, 0.1, 0.0)[None].astype(np.float32)
  p = hillas.hillas_parameters(np.repeat(image, 3, axis=0), PIXEL)
  sources = np.array([[-0.5, 0.0], [0.5, 0.7], [0.0, -0.5]])
  np.testing.assert_allclose(hillas.miss_deg(p, sources), [0.0, 0.7, 0.5], atol=1e-4)


def test_skewness_and_kurtosis_of_symmetric_and_skewed_images():
  symmetric = gaussian_ellipse(0.0, 0.0, 0.4, 0.1, 0.7)
  skewed = gaussian_ellipse(0.0, 0.0, 0.4, 0.1, 0.0)
  skewed[:, 21:] *= 3.0  # more light at x > 0 than at x < 0, along the axis (psi = 0)
  p = hillas.hillas_parameters(np.stack([symmetric, skewed]).astype(np.float32), PIXEL)
  assert float(p.skewness[0]) == pytest.approx(0.0, abs=1e-3)
  assert float(p.kurtosis[0]) == pytest.approx(3.0, abs=0.05)  # a Gaussian's
  assert float(p.skewness[1]) < -0.1  # the centroid moves towards the bright side: tail at x < 0


@pytest.mark.fast
def test_cleaning_removes_isolated_noise():
  image = gaussian_ellipse(0.0, 0.0, 0.3, 0.1, 0.3, size=3000.0)
  image[2, 2] = 50.0  # an isolated bright pixel
  kept = np.asarray(hillas.cleaned(image[None].astype(np.float32), 6.0, 3.0))[0]
  assert kept[2, 2] == 0.0 and kept[21, 21] == pytest.approx(image[21, 21])


def _ctapipe_square_camera(size: int, pixel: float):
  """A ctapipe CameraGeometry of square pixels in degrees (TelescopeFrame): its pixel k is pixel
  (i, j) = divmod(k, size) of a (size, size) image, at x = (j - c) pixel, y = (i - c) pixel."""
  import astropy.units as u  # pylint: disable=g-import-not-at-top
  from ctapipe.coordinates import TelescopeFrame  # pylint: disable=g-import-not-at-top
  from ctapipe.instrument import CameraGeometry, PixelShape  # pylint: disable=g-import-not-at-top
  coords = (np.arange(size) - (size - 1) / 2) * pixel
  x, y = np.meshgrid(coords, coords)
  return CameraGeometry('jaxgan_square', np.arange(size * size), x.ravel() * u.deg,
                        y.ravel() * u.deg, np.full(size * size, pixel ** 2) * u.deg ** 2,
                        pix_type=PixelShape.SQUARE, frame=TelescopeFrame())


def test_matches_ctapipe_on_cleaned_toy_images():
  ctapipe_image = pytest.importorskip('ctapipe.image')
  deg = pytest.importorskip('astropy.units').deg
  config = toy_iact.default_config()
  config.update(energy_min_tev=0.3, chunk_size=16)
  images, _ = toy_iact.simulate(jax.random.key(5), 16, config)
  images = np.asarray(hillas.cleaned(images, 6.0, 3.0))
  images = images[(images > 0).sum(axis=(1, 2)) >= 5][:8]  # gammas and protons, 5+ pixels
  assert len(images) == 8
  ours = hillas.hillas_parameters(images, PIXEL)
  camera = _ctapipe_square_camera(N, PIXEL)
  for k, image in enumerate(images.astype(np.float64).reshape(len(images), -1)):
    lit = image > 0
    theirs = ctapipe_image.hillas_parameters(camera[lit], image[lit])
    assert float(ours.size[k]) == pytest.approx(theirs.intensity, rel=1e-5)
    assert float(ours.x[k]) == pytest.approx(theirs.fov_lon.to_value(deg), abs=1e-5)
    assert float(ours.y[k]) == pytest.approx(theirs.fov_lat.to_value(deg), abs=1e-5)
    assert float(ours.length[k]) == pytest.approx(theirs.length.to_value(deg), rel=1e-4)
    assert float(ours.width[k]) == pytest.approx(theirs.width.to_value(deg), rel=1e-4)
    turn = np.mod(float(ours.psi[k]) - theirs.psi.to_value('rad') + np.pi / 2, np.pi)
    assert turn - np.pi / 2 == pytest.approx(0.0, abs=1e-4)  # the same axis, psi mod pi
    # Both measure the coordinate along the axis towards cos(psi) > 0: the same sign.
    assert float(ours.skewness[k]) == pytest.approx(theirs.skewness, rel=1e-3, abs=1e-4)
    assert float(ours.kurtosis[k]) == pytest.approx(theirs.kurtosis, rel=1e-3)
