"""Hillas parameters against analytic Gaussian ellipses and a numpy eigen-decomposition."""

import numpy as np
import pytest

from jaxgan.evaluation import hillas

PIXEL = 0.1
N = 43


def gaussian_ellipse(x0, y0, length, width, psi, size=1000.0):
  coords = (np.arange(N) - (N - 1) / 2) * PIXEL
  x, y = np.meshgrid(coords, coords)  # x varies along columns, y along rows
  u = (x - x0) * np.cos(psi) + (y - y0) * np.sin(psi)
  v = -(x - x0) * np.sin(psi) + (y - y0) * np.cos(psi)
  image = np.exp(-0.5 * (u / length) ** 2 - 0.5 * (v / width) ** 2)
  return size * image / image.sum()


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


def test_cleaning_removes_isolated_noise():
  image = gaussian_ellipse(0.0, 0.0, 0.3, 0.1, 0.3, size=3000.0)
  image[2, 2] = 50.0  # an isolated bright pixel
  kept = np.asarray(hillas.cleaned(image[None].astype(np.float32), 6.0, 3.0))[0]
  assert kept[2, 2] == 0.0 and kept[21, 21] == pytest.approx(image[21, 21])
