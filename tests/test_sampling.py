"""The probe's label response (`sampling.label_response`) against analytic Gaussian ellipses, and
the sample grid's source markers."""

import numpy as np
import pytest

from jaxgan import camera as camera_lib
from jaxgan import logs
from jaxgan import sampling
from jaxgan.data import toy_iact
from tests.helpers import gaussian_ellipse

PIXEL = 0.1
CAMERA = camera_lib.Camera(PIXEL, picture=6.0, boundary=3.0)
N = 43
SIZE = 1e5  # pe: bright enough that tailcut cleaning keeps the ellipse out to ~3.9 sigma


def ellipse(x0, y0, length, width, psi):
  """A (H, W, 1) float32 Gaussian ellipse of SIZE pe (`helpers.gaussian_ellipse`)."""
  return gaussian_ellipse(x0, y0, length, width, psi, SIZE, PIXEL, N)[..., None].astype(np.float32)


def test_label_response_measures_the_gammas_shape_and_pointing():
  # Three gammas pointing at their sources (lengths 0.2, 0.3, 0.4, widths 0.06, 0.1, 0.14) and a
  # proton, long, wide and pointing away, that the gamma measures must ignore.
  gammas = [((0.5, 0.0), 0.2, 0.06, 0.0, (-0.3, 0.0)),
            ((0.0, 0.6), 0.3, 0.1, np.pi / 2, (0.0, -0.2)),
            ((-0.4, -0.4), 0.4, 0.14, np.pi / 4, (0.2, 0.2))]
  images = [ellipse(*centre, length, width, psi) for centre, length, width, psi, _ in gammas]
  images.append(ellipse(0.3, 0.3, 0.8, 0.3, 0.0))
  labels = {'particletype': np.array([1, 1, 1, 0], np.int32),
            'energy': np.zeros(4, np.float32),
            'direction': np.array([source for *_, source in gammas] + [(0.3, 1.0)], np.float32)}
  response = sampling.label_response(np.stack(images), labels, CAMERA)
  box = PIXEL ** 2 / 12  # a pixel adds its box variance along both axes
  assert response['gamma_median_length_deg'] == pytest.approx(np.sqrt(0.3 ** 2 + box), rel=0.02)
  assert response['gamma_median_width_deg'] == pytest.approx(np.sqrt(0.1 ** 2 + box), rel=0.05)
  assert response['gamma_median_alpha_deg'] == pytest.approx(0.0, abs=0.5)


def test_label_response_without_gammas_has_no_gamma_measures():
  labels = {'particletype': np.zeros(2, np.int32), 'energy': np.array([0.0, 1.0], np.float32),
            'direction': np.zeros((2, 2), np.float32)}
  images = np.stack([ellipse(0.0, 0.0, 0.3, 0.1, 0.0), 10 * ellipse(0.0, 0.0, 0.3, 0.1, 0.0)])
  response = sampling.label_response(images, labels, CAMERA)
  assert set(response) == {'size_energy_correlation'}
  assert response['size_energy_correlation'] == pytest.approx(1.0)  # brighter with energy


def test_gamma_measures_count_only_the_gammas_with_light():
  # Two gammas, one of them a blank camera: half the gammas have light, and the medians are
  # those of the lit one alone.
  labels = {'particletype': np.ones(2, np.int32), 'energy': np.zeros(2, np.float32),
            'direction': np.array([(-0.3, 0.0), (0.0, 0.0)], np.float32)}
  images = np.stack([ellipse(0.5, 0.0, 0.3, 0.1, 0.0), np.zeros((N, N, 1), np.float32)])
  response = sampling.label_response(images, labels, CAMERA)
  assert response['gamma_light_fraction'] == 0.5
  assert response['gamma_median_alpha_deg'] == pytest.approx(0.0, abs=0.5)
  assert response['gamma_median_length_deg'] == pytest.approx(
      np.sqrt(0.3 ** 2 + PIXEL ** 2 / 12), rel=0.02)


@pytest.mark.fast
def test_source_pixels_are_the_camera_pixels_at_the_labelled_directions():
  config = toy_iact.default_config()
  coords = toy_iact.camera_coordinates(config)
  rows, cols = np.array([3, 21, 40]), np.array([30, 21, 2])
  direction = np.stack([coords[cols], coords[rows]], axis=-1)
  np.testing.assert_allclose(
      sampling.source_pixels(direction, config.pixel_size_deg, config.image_size),
      np.stack([rows, cols], axis=-1), atol=1e-4)


def test_grid_markers_are_crosses_around_the_marked_pixels_only():
  """Cell (row 2, column 5) of the second image of a 1 x 2 grid of 8 x 8 images at 3 screen
  pixels per pixel: its centre is screen (2 * 3 + 1, (9 + 5) * 3 + 1); the first image's marker
  lies off its image and is not drawn."""
  rgb = logs.image_grid(np.zeros((2, 8, 8, 1)), columns=2, vmax=1.0,
                        markers=np.array([[-3.0, 4.0], [2.0, 5.0]]))
  cyan = np.all(rgb == logs.MARKER_RGB, axis=-1)
  centre_row, centre_column = 7, 43
  expected = np.zeros_like(cyan)
  for step in (3, 4, 5):
    expected[centre_row - step, centre_column] = expected[centre_row + step, centre_column] = True
    expected[centre_row, centre_column - step] = expected[centre_row, centre_column + step] = True
  np.testing.assert_array_equal(cyan, expected)
