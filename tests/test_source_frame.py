"""The polar, frame and aligned views about the labelled source, against scipy and closed-form
geometry."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxgan import configs
from jaxgan import labels as labels_lib
from jaxgan.models import ctgan
from jaxgan.models import ctgan_frame
from jaxgan.models import source_frame
from tests.helpers import gaussian_ellipse

PIXEL = 0.1  # degrees, as the toy telescope's
DIRECTION = (3, 5)  # the direction's columns in the telescope label vector (one-hot type, energy)
TELESCOPE_COLUMNS = {'particletype': (0, 2), 'energy': (2, 3), 'direction': DIRECTION}


@pytest.mark.fast
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
  return ctgan.Critic(block_features=(4, 8), label_dim=labels_lib.LABEL_DIM, view='polar',
                      direction_columns=DIRECTION)


def test_polar_critic_scores_and_needs_labels():
  critic = polar_critic()
  images = jax.random.normal(jax.random.key(0), (2, 43, 43, 1))
  labels = jnp.zeros((2, labels_lib.LABEL_DIM))
  params = critic.init(jax.random.key(1), images, labels)
  moved = labels.at[:, 3:5].set(jnp.array([[0.5, 0.5], [-0.5, 0.2]]))
  scores = critic.apply(params, images, labels).scores
  assert scores.shape == (2,)
  assert not np.allclose(scores, critic.apply(params, images, moved).scores)
  with pytest.raises(ValueError, match='polar view needs the labels'):
    critic.apply(params, images)


def test_polar_view_is_refused_without_labels_in_the_critic():
  model = configs.telescope().model
  model.critic_view = 'polar'
  with pytest.raises(ValueError, match="'cgan' in model.conditioning"):
    ctgan.from_config(model, label_dim=0)
  with pytest.raises(ValueError, match='critic_view'):
    ctgan.Critic(view='sideways').init(jax.random.key(0), jnp.zeros((1, 43, 43, 1)))


def gaussian_streak(centre_xy, axis_deg, brightness=6.0):
  """(1, 43, 43, 1) image: `helpers.gaussian_ellipse` 0.2 x 0.06 degrees at camera `centre_xy`,
  its major axis along `axis_deg`, `brightness` at its peak (network units)."""
  size = brightness * 2 * math.pi * (0.2 / PIXEL) * (0.06 / PIXEL)
  image = gaussian_ellipse(*centre_xy, 0.2, 0.06, math.radians(axis_deg), size, PIXEL)
  return image[None, :, :, None].astype(np.float32)


def aligned(image, source, threshold=2.0):
  """The (48, 48) aligned view of one (1, 43, 43, 1) image about `source` (x, y), degrees."""
  return np.asarray(source_frame.aligned_view(
      ctgan.pad_center(jnp.asarray(image), ctgan.PADDED_SIZE),
      jnp.asarray([source], jnp.float32), PIXEL, 43, threshold))[0, :, :, 0]


def light_moments(view):
  """(row, column) centroid and the major axis's angle from the rows (degrees, in (-90, 90])."""
  rows, cols = np.mgrid[:view.shape[0], :view.shape[1]]
  w = view / view.sum()
  r, c = (w * rows).sum(), (w * cols).sum()
  crr, ccc = (w * (rows - r) ** 2).sum(), (w * (cols - c) ** 2).sum()
  crc = (w * (rows - r) * (cols - c)).sum()
  return r, c, 0.5 * math.degrees(math.atan2(2 * crc, ccc - crr))


def test_light_centroid_matches_numpy_and_falls_back_to_the_centre():
  rng = np.random.default_rng(1)
  canvas = rng.normal(0, 2, size=(2, 48, 48, 1)).astype(np.float32)
  canvas[1] = 0.0  # no light above the threshold
  rows, cols = source_frame.light_centroid(jnp.asarray(canvas), 1.5)
  weights = np.maximum(canvas[0, :, :, 0] - 1.5, 0)
  grid_rows, grid_cols = np.mgrid[:48, :48]
  np.testing.assert_allclose([rows[0], cols[0]],
                             [(weights * grid_rows).sum() / weights.sum(),
                              (weights * grid_cols).sum() / weights.sum()], rtol=1e-5)
  np.testing.assert_allclose([rows[1], cols[1]], [23.5, 23.5])


@pytest.mark.parametrize('source', [(0.0, 0.0), (0.6, -0.9), (-1.2, 0.4)])
@pytest.mark.parametrize('azimuth_deg', [20.0, 135.0, 250.0])
def test_a_shower_pointing_at_its_source_lies_along_the_middle_row(source, azimuth_deg):
  """Wherever it is: the centroid lands at the view's centre, the axis along the rows, and the
  source behind it (the light's far side from the source is on the right); a shower turned by
  90 degrees stands across them."""
  a = math.radians(azimuth_deg)
  centre = (source[0] + 0.8 * math.cos(a), source[1] + 0.8 * math.sin(a))
  view = aligned(gaussian_streak(centre, azimuth_deg), source)
  row, col, angle = light_moments(np.maximum(view - 2.0, 0))
  assert abs(row - 23.5) < 0.3 and abs(col - 23.5) < 0.3
  assert abs(angle) < 2.0
  across = light_moments(np.maximum(aligned(gaussian_streak(centre, azimuth_deg + 90), source)
                                    - 2.0, 0))[2]
  assert abs(abs(across) - 90) < 5.0  # pixels 0.6 sigma wide: a coarser angle


def test_the_aligned_view_is_the_same_for_a_turned_camera():
  """Turning image and source together by 90 degrees leaves the view unchanged."""
  image = gaussian_streak((0.5, 0.3), 60.0) + gaussian_streak((-0.4, 0.2), 10.0, brightness=3.0)
  source = np.array([0.2, -0.7])
  turned = np.rot90(image, k=1, axes=(1, 2))  # (x, y) -> (y, -x) in camera coordinates
  np.testing.assert_allclose(aligned(turned, (source[1], -source[0])), aligned(image, source),
                             atol=1e-4)


def reference_aligned_view(canvas, image_for_centroid, source, threshold=2.0):
  """scipy's bilinear samples of the padded `canvas` (48, 48) on the aligned grid of the padded
  `image_for_centroid`: an independent writing of `aligned_view`'s docstring."""
  weights = np.maximum(image_for_centroid - threshold, 0)
  grid_rows, grid_cols = np.mgrid[:48, :48]
  weights = weights / weights.sum()
  row, col = (weights * grid_rows).sum(), (weights * grid_cols).sum()
  source_col, source_row = np.asarray(source) / PIXEL + 23.0  # the image centre on the canvas
  turn = math.atan2(row - source_row, col - source_col)
  v, u = grid_rows - 23.5, grid_cols - 23.5
  rows = row + u * math.sin(turn) + v * math.cos(turn)
  cols = col + u * math.cos(turn) - v * math.sin(turn)
  return ndimage.map_coordinates(canvas, [rows, cols], order=1, mode='grid-constant', cval=0.0)


def test_the_view_and_its_derivative_match_scipy_at_the_images_own_centroid():
  """The view is scipy's resampling on the grid of the image's centroid; its derivative is the
  same resampling of the tangent on that grid: no gradient flows through the centroid."""
  image = jnp.asarray(gaussian_streak((0.5, 0.3), 60.0) + gaussian_streak((-0.4, 0.2), 10.0))
  tangent = jax.random.normal(jax.random.key(0), image.shape)
  source = (0.2, -0.7)
  view = lambda x: source_frame.aligned_view(ctgan.pad_center(x, ctgan.PADDED_SIZE),
                                             jnp.asarray([source], jnp.float32), PIXEL, 43, 2.0)
  values, derivative = jax.jvp(view, (image,), (tangent,))
  padded = lambda x: np.asarray(ctgan.pad_center(x, ctgan.PADDED_SIZE))[0, :, :, 0]
  np.testing.assert_allclose(values[0, :, :, 0],
                             reference_aligned_view(padded(image), padded(image), source),
                             atol=1e-4)
  np.testing.assert_allclose(derivative[0, :, :, 0],
                             reference_aligned_view(padded(tangent), padded(image), source),
                             atol=1e-4)


@pytest.mark.fast
@pytest.mark.parametrize('distance', [0.6, 1.2])
def test_the_source_anchored_view_puts_a_shower_at_its_distance_along_the_middle_row(distance):
  """A streak pointing back to a source `distance` deg away lies along the middle row with its
  light centred SOURCE_ANCHOR_BEHIND + distance / pixel columns from the left."""
  source, angle = np.array([-0.3, 0.2]), math.radians(35.0)
  centre = source + distance * np.array([math.cos(angle), math.sin(angle)])
  image = ctgan.pad_center(jnp.asarray(gaussian_streak(centre, 35.0)), ctgan.PADDED_SIZE)
  view = np.asarray(source_frame.aligned_view(image, jnp.asarray([source], jnp.float32), PIXEL,
                                              43, 2.0, behind=source_frame.SOURCE_ANCHOR_BEHIND))
  row, col, tilt = light_moments(view[0, :, :, 0])
  assert row == pytest.approx(23.5, abs=0.1) and abs(tilt) < 1.0
  assert col == pytest.approx(source_frame.SOURCE_ANCHOR_BEHIND + distance / PIXEL, abs=0.1)


@pytest.mark.fast
def test_the_distance_channel_is_the_centroids_distance_and_pulls_the_light_outwards():
  """A symmetric streak centred 0.5 deg right and 0.3 deg up of the camera centre, source at
  (-0.1, -0.5): distance hypot(0.6, 0.8) = 1 deg. Its gradient with respect to the image
  grows the distance where light is added on the far side of the centroid."""
  image = jnp.asarray(gaussian_streak((0.5, 0.3), 60.0))
  source = jnp.asarray([[-0.1, -0.5]], jnp.float32)

  def distance(image):
    return source_frame.centroid_distance(ctgan.pad_center(image, ctgan.PADDED_SIZE), source,
                                          PIXEL, 43, 2.0)[0]

  assert float(distance(image)) == pytest.approx(1.0, abs=0.01)
  gradient = np.asarray(jax.grad(distance)(image))[0, :, :, 0]
  row, col = 21 + 3, 21 + 5  # the streak's centre pixel; its axis runs 60 deg up and right
  assert gradient[row + 2, col + 1] > 0 > gradient[row - 2, col - 1]  # along the axis
  critic = ctgan.Critic(block_features=(4, 8), label_dim=labels_lib.LABEL_DIM,
                        view='aligned_distance', direction_columns=DIRECTION)
  labels = jnp.zeros((1, labels_lib.LABEL_DIM)).at[0, 3:5].set(source[0])
  params = critic.init(jax.random.key(1), image, labels)
  assert params['params']['Conv_0']['kernel'].shape[2] == 2  # the view and the distance


def test_aligned_critic_scores_needs_labels_and_is_refused_without_them():
  critic = ctgan.Critic(block_features=(4, 8), label_dim=labels_lib.LABEL_DIM, view='aligned',
                        direction_columns=DIRECTION)
  images = jnp.asarray(np.concatenate([gaussian_streak((0.5, 0.3), 60.0)] * 2))
  labels = jnp.zeros((2, labels_lib.LABEL_DIM))
  params = critic.init(jax.random.key(1), images, labels)
  moved = labels.at[1, 3:5].set(jnp.array([0.5, -0.5]))
  scores = critic.apply(params, images, moved).scores
  assert scores.shape == (2,) and scores[0] != scores[1]
  with pytest.raises(ValueError, match='aligned view needs the labels'):
    critic.apply(params, images)
  model = configs.telescope().model
  model.critic_view = 'aligned'
  with pytest.raises(ValueError, match="'cgan' in model.conditioning"):
    ctgan.from_config(model, label_dim=0)


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
                                         output_features=4, pixel_noise=False,
                                         direction_columns=DIRECTION)
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  return np.asarray(generator.apply(variables, z, labels, train=False))[..., 0]


@pytest.mark.fast
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


@pytest.mark.fast
@pytest.mark.parametrize('noise_head, reach', [(8, 0), (0, 1)])
def test_the_noise_head_keeps_each_pixels_noise_to_that_pixel(noise_head, reach):
  """Changing the noise map at one pixel changes that pixel of the image only with the noise head
  (a 1x1 head); added in the camera stage, it reaches the neighbours through the last 3x3 conv."""
  generator = ctgan_frame.FrameGenerator(base_shape=(3, 6, 4), block_features=(4, 4, 4),
                                         output_features=4, pixel_noise=True,
                                         noise_head=noise_head, direction_columns=DIRECTION)
  z = jax.random.normal(jax.random.key(1), (1, 2 + 8 + 48 * 48))
  labels = jnp.zeros((1, labels_lib.LABEL_DIM)).at[0, 2].set(0.5)
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  variables = jax.tree.map(lambda v: v + 0.3, variables)  # the noise scale starts at zero
  row, col = 20, 23  # of the 48 x 48 canvas: pixel (18, 21) of the 43 x 43 image
  nudged = z.at[0, 10 + row * 48 + col].add(1.0)
  change = np.abs(np.asarray(generator.apply(variables, nudged, labels, train=False)
                             - generator.apply(variables, z, labels, train=False)))[0, ..., 0]
  rows, cols = np.nonzero(change > 1e-6)
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (18 - reach, 18 + reach,
                                                              21 - reach, 21 + reach)


@pytest.mark.fast
def test_the_output_bound_keeps_every_pixel_within_it_and_small_ones_as_they_are():
  z = 30.0 * jax.random.normal(jax.random.key(1), (2, 2 + 8))
  labels = jnp.zeros((2, labels_lib.LABEL_DIM)).at[:, 2].set(0.5)
  images = {}
  for bound in (0.0, 4.0):
    generator = ctgan_frame.FrameGenerator(base_shape=(3, 6, 4), block_features=(4, 4, 4),
                                           output_features=4, pixel_noise=False,
                                           output_bound=bound, direction_columns=DIRECTION)
    variables = generator.init(jax.random.key(0), z, labels, train=False)
    images[bound] = np.asarray(generator.apply(variables, z, labels, train=False))
  assert np.abs(images[0.0]).max() > 4.0 >= np.abs(images[4.0]).max()
  small = np.abs(images[0.0]) < 0.1
  np.testing.assert_allclose(images[4.0][small], images[0.0][small], atol=1e-4)


@pytest.mark.parametrize('field, value, message', [
    ('generator_output_features', 0, 'generator_output_features > 0'),
    ('upsample', 'transposed', "upsample='nearest'")])
def test_frame_model_refuses_what_its_generator_lacks(field, value, message):
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  model = configs.from_file(os.path.join(repo, 'experiments', 'ctgan.py')).model
  model[field] = value
  with pytest.raises(ValueError, match=message):
    ctgan_frame.from_config(model, label_dim=labels_lib.LABEL_DIM)


@pytest.mark.parametrize('grid', [(96, 48), (64, 40)])
def test_polar_critic_reads_the_grid_of_model_polar_grid(grid):
  """Four stride-2 blocks take an (A, R) grid to ceil(A/16) x ceil(R/16) positions, so the
  score's kernel has that many rows per final channel."""
  model = configs.telescope().model
  model.critic_view, model.polar_grid, model.critic_features = 'polar', grid, (2, 2, 2, 3)
  critic = ctgan.critic_from_config(model, label_dim=labels_lib.LABEL_DIM,
                                    label_columns=TELESCOPE_COLUMNS)
  variables = critic.init(jax.random.key(0), jnp.zeros((1, 43, 43, 1)),
                          jnp.zeros((1, labels_lib.LABEL_DIM)))
  kernel = variables['params']['CriticHead_0']['score']['kernel']
  assert kernel.shape == (math.ceil(grid[0] / 16) * math.ceil(grid[1] / 16) * 3, 1)


@pytest.mark.parametrize('view', ['polar', 'aligned'])
def test_critic_reads_the_source_from_its_direction_columns(view):
  """The same critic given the source in columns (1, 3) of a 4-column vector scores as given it
  in the telescope's (3, 5): the view reads those columns and no other (label_dim 0)."""
  images = jnp.asarray(np.concatenate([gaussian_streak((0.5, 0.3), 60.0),
                                       gaussian_streak((-0.2, 0.4), 10.0)]))
  source = jnp.array([[0.1, -0.4], [-0.6, 0.2]])
  telescope = jnp.zeros((2, 5)).at[:, 3:5].set(source)
  other = jnp.full((2, 4), 7.0).at[:, 1:3].set(source)
  critic = lambda columns: ctgan.Critic(block_features=(4, 8), view=view,
                                        direction_columns=columns)
  params = critic(DIRECTION).init(jax.random.key(0), images, telescope)
  expected = critic(DIRECTION).apply(params, images, telescope).scores
  np.testing.assert_array_equal(critic((1, 3)).apply(params, images, other).scores, expected)
  moved = other.at[:, 1].add(0.3)
  assert not np.allclose(critic((1, 3)).apply(params, images, moved).scores, expected)


def test_frame_generator_reads_the_source_from_its_direction_columns():
  """Source first, then the other labels, draws what the telescope's layout (source last) does:
  the same other labels reach the dense layer, the same source places the canvas."""
  z = jax.random.normal(jax.random.key(1), (2, 2 + 8))
  source, rest = jnp.array([[0.3, -0.2], [-0.5, 0.1]]), jnp.array([[1., 0., 0.4], [0., 1., -.3]])
  generator = lambda columns: ctgan_frame.FrameGenerator(
      base_shape=(3, 6, 4), block_features=(4, 4, 4), output_features=4, pixel_noise=False,
      direction_columns=columns)
  last, first = jnp.concatenate([rest, source], 1), jnp.concatenate([source, rest], 1)
  variables = generator(DIRECTION).init(jax.random.key(0), z, last, train=False)
  np.testing.assert_array_equal(generator((0, 2)).apply(variables, z, first, train=False),
                                generator(DIRECTION).apply(variables, z, last, train=False))


def test_models_are_told_the_direction_columns_of_the_dataset_labels():
  """`from_config` hands each network the columns of `direction` it is given; a dataset without
  that label is refused by the models that need it."""
  model = configs.telescope().model
  model.critic_view, model.generator_output_features = 'aligned', 4
  columns = {'mode': (0, 3), 'direction': (3, 5)}
  generator, critic = ctgan_frame.from_config(model, label_dim=5, label_columns=columns)
  assert generator.direction_columns == (3, 5) and critic.direction_columns == (3, 5)
  with pytest.raises(ValueError, match="'direction' label"):
    ctgan_frame.from_config(model, label_dim=3, label_columns={'mode': (0, 3)})
  with pytest.raises(ValueError, match="'cgan' in model.conditioning"):
    ctgan.critic_from_config(model, label_dim=3, label_columns={'mode': (0, 3)})
