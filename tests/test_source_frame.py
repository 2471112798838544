"""The polar view about the labelled source, against scipy and closed-form geometry."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxgan import configs
from jaxgan.data import labels as labels_lib
from jaxgan.models import ctgan
from jaxgan.models import ctgan_frame
from jaxgan.models import source_frame

PIXEL = 0.1  # degrees, as the toy telescope's


def test_bilinear_samples_match_scipy():
  """Inside, on the edges and off the canvas (where the canvas reads as zeros)."""
  rng = np.random.default_rng(0)
  canvas = rng.normal(size=(2, 7, 9, 1)).astype(np.float32)
  rows = rng.uniform(-2, 9, size=(2, 30)).astype(np.float32)
  cols = rng.uniform(-2, 11, size=(2, 30)).astype(np.float32)
  ours = source_frame.sample_bilinear(jnp.asarray(canvas), jnp.asarray(rows), jnp.asarray(cols))
  for b in range(2):
    reference = ndimage.map_coordinates(canvas[b, :, :, 0], [rows[b], cols[b]], order=1,
                                        mode='grid-constant', cval=0.0)
    np.testing.assert_allclose(ours[b, :, 0], reference, atol=1e-5)


def camera_position(row: int, col: int, image_size: int = 43) -> np.ndarray:
  """(x, y) of an image pixel in degrees (jaxgan.data.toy_iact's camera coordinates)."""
  centre = (image_size - 1) / 2
  return np.array([(col - centre) * PIXEL, (row - centre) * PIXEL])


@pytest.mark.parametrize('grid', [source_frame.POLAR_GRID, (64, 40)])
@pytest.mark.parametrize('source', [(0.0, 0.0), (0.73, -1.21), (-1.4, 0.35)])
def test_a_point_lands_at_its_distance_and_angle_from_the_source(source, grid):
  image = np.zeros((1, 43, 43, 1), np.float32)
  image[0, 30, 12, 0] = 1.0
  view = source_frame.polar_view(ctgan.pad_center(jnp.asarray(image), ctgan.PADDED_SIZE),
                                 jnp.asarray([source], jnp.float32), PIXEL, 43, grid)
  assert view.shape == (1, *grid, 1)
  dx, dy = (camera_position(30, 12) - np.asarray(source)) / PIXEL
  angle_row, radius_col = np.unravel_index(np.argmax(view[0, :, :, 0]), view.shape[1:3])
  expected_angle = math.atan2(dy, dx) % (2 * math.pi)
  bin_angle = 2 * math.pi * (angle_row + 0.5) / grid[0]
  angle_error = abs((bin_angle - expected_angle + math.pi) % (2 * math.pi) - math.pi)
  assert angle_error <= 2 * math.pi / grid[0]
  assert abs(radius_col + 0.5 - math.hypot(dx, dy)) <= 1.0


def test_a_line_through_the_source_is_one_row_and_a_tangent_line_is_not():
  """What the critic is to see: a streak pointing at the source keeps one angle."""
  source = jnp.zeros((1, 2))
  radial = np.zeros((1, 43, 43, 1), np.float32)
  radial[0, 21, 26:36, 0] = 1.0  # along +x, away from the source at the centre
  tangent = np.zeros((1, 43, 43, 1), np.float32)
  tangent[0, 16:26, 31, 0] = 1.0  # across the same direction, as far from the source
  light = lambda image: np.asarray(source_frame.polar_view(
      ctgan.pad_center(jnp.asarray(image), ctgan.PADDED_SIZE), source, PIXEL, 43)[0, :, :, 0])
  rows_lit = lambda view: int(np.sum(view.sum(axis=1) > 0.05 * view.sum(axis=1).max()))
  assert rows_lit(light(radial)) <= 4  # a few rows around angle 0 (wider near the source)
  assert rows_lit(light(tangent)) >= 12  # it spans -27 to +22 degrees of angle: 13 rows


def polar_critic() -> ctgan.Critic:
  return ctgan.Critic(block_features=(4, 8), label_dim=labels_lib.LABEL_DIM, view='polar')


def test_polar_critic_scores_and_needs_labels():
  critic = polar_critic()
  images = jax.random.normal(jax.random.key(0), (2, 43, 43, 1))
  labels = jnp.zeros((2, labels_lib.LABEL_DIM))
  params = critic.init(jax.random.key(1), images, labels)
  moved = labels.at[:, 3:5].set(jnp.array([[0.5, 0.5], [-0.5, 0.2]]))
  scores = critic.apply(params, images, labels).scores
  assert scores.shape == (2,) and not np.allclose(scores, critic.apply(params, images, moved).scores)
  with pytest.raises(ValueError, match='polar view needs the labels'):
    critic.apply(params, images)


def test_polar_view_is_refused_without_labels_in_the_critic():
  model = configs.base_config().model
  model.critic_view = 'polar'
  with pytest.raises(ValueError, match="'cgan' in model.conditioning"):
    ctgan.from_config(model, label_dim=0)
  with pytest.raises(ValueError, match='critic_view'):
    ctgan.Critic(view='sideways').init(jax.random.key(0), jnp.zeros((1, 43, 43, 1)))


@pytest.mark.parametrize('azimuth_deg', [0.0, 90.0, 217.0])
def test_a_frame_point_lands_at_its_turned_offset_from_the_source(azimuth_deg):
  """Frame pixel (u, v) goes to source + u (cos a, sin a) + v (-sin a, cos a), in pixels."""
  frame = np.zeros((1, 24, 48, 1), np.float32)
  frame[0, 14, 25, 0] = 1.0  # u = 25 - 10 = 15 pixels, v = 14 - 11.5 = 2.5 pixels
  source = np.array([0.42, -0.31])
  angle = math.radians(azimuth_deg)
  camera = source_frame.frame_to_camera(jnp.asarray(frame), jnp.asarray([source], jnp.float32),
                                        jnp.asarray([[math.cos(angle), math.sin(angle)]]),
                                        PIXEL, 43, ctgan.PADDED_SIZE)
  image = np.asarray(ctgan.crop_center(camera, 43))[0, :, :, 0]
  assert abs(image.sum() - 1.0) < 0.05  # a bilinear tent sampled on the turned grid
  rows, cols = np.indices(image.shape)
  centroid = np.array([(image * cols).sum(), (image * rows).sum()])
  expected = (source / PIXEL + 21 + 15 * np.array([math.cos(angle), math.sin(angle)])
              + 2.5 * np.array([-math.sin(angle), math.cos(angle)]))
  np.testing.assert_allclose(centroid / image.sum(), expected, atol=0.1)


def frame_generator_images(z, labels):
  generator = ctgan_frame.FrameGenerator(base_shape=(3, 6, 4), block_features=(4, 4, 4),
                                         output_features=4, pixel_noise=False)
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  return np.asarray(generator.apply(variables, z, labels, train=False))[..., 0]


def test_frame_generator_moves_its_showers_with_the_source():
  """Moving the source by 3 pixels moves the image by 3 pixels (convolutions are translation
  equivariant, and the source enters only the placement); the azimuth entries of z turn it."""
  z = jax.random.normal(jax.random.key(1), (1, 2 + 8))
  labels = jnp.zeros((1, labels_lib.LABEL_DIM)).at[0, 2].set(0.5)
  base = frame_generator_images(z, labels)
  assert base.shape == (1, 43, 43) and np.abs(base).max() > 1e-3
  moved = frame_generator_images(z, labels.at[0, 3].set(3 * PIXEL))
  np.testing.assert_allclose(moved[:, 8:35, 11:38], base[:, 8:35, 8:35], atol=1e-5)
  turned = frame_generator_images(z.at[0, :2].set(jnp.array([-z[0, 1], z[0, 0]])), labels)
  assert np.abs(turned - base).max() > 0.1


@pytest.mark.parametrize('field, value, message', [
    ('generator_output_features', 0, 'generator_output_features > 0'),
    ('upsample', 'transposed', "upsample='nearest'")])
def test_frame_model_refuses_what_its_generator_lacks(field, value, message):
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  model = configs.from_file(os.path.join(repo, 'experiments', 'ctgan_frame.py')).model
  model[field] = value
  with pytest.raises(ValueError, match=message):
    ctgan_frame.from_config(model, label_dim=labels_lib.LABEL_DIM)


@pytest.mark.parametrize('grid', [(96, 48), (64, 40)])
def test_polar_critic_reads_the_grid_of_model_polar_grid(grid):
  """Four stride-2 blocks take an (A, R) grid to ceil(A/16) x ceil(R/16) positions, so the
  score's kernel has that many rows per final channel."""
  model = configs.base_config().model
  model.critic_view, model.polar_grid, model.critic_features = 'polar', grid, (2, 2, 2, 3)
  critic = ctgan.critic_from_config(model, label_dim=labels_lib.LABEL_DIM)
  variables = critic.init(jax.random.key(0), jnp.zeros((1, 43, 43, 1)),
                          jnp.zeros((1, labels_lib.LABEL_DIM)))
  kernel = variables['params']['CriticHead_0']['score']['kernel']
  assert kernel.shape == (math.ceil(grid[0] / 16) * math.ceil(grid[1] / 16) * 3, 1)
