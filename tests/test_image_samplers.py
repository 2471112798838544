"""Tests of the pilot samplers (image grids, ring point clouds), the ring metrics, and GIFs."""

import logging
import os
import pathlib
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from jaxgan import image_samplers, logs
from jaxgan.data import dataset
from jaxgan.data import pilots
from jaxgan.data.pipeline import Normalisation
from jaxgan.data.split import Split

IDENTITY = Normalisation(scale=1.0, transform='linear')
RING = pilots.MIXTURES['gaussian_ring']
SIGMA = RING.std
MEANS = RING.means


class DenseImages(nn.Module):
  """A stand-in generator: one dense layer of [z, labels], tanh, reshaped to images."""
  shape: tuple[int, int, int]

  @nn.compact
  def __call__(self, z, labels, train: bool):
    x = nn.Dense(int(np.prod(self.shape)))(jnp.concatenate([z, labels], axis=-1))
    return jnp.tanh(x).reshape((len(z),) + self.shape)


class ClassBrightness(nn.Module):
  """Uniform 8x8 grey images of value 2 c / K - 1 for class c: pixel 255 c / K, whatever z."""
  num_classes: int

  def __call__(self, z, labels, train: bool):
    value = 2.0 * jnp.argmax(labels, axis=-1) / self.num_classes - 1.0
    return jnp.broadcast_to(value[:, None, None, None], (len(z), 8, 8, 1))


class KnownPoints(nn.Module):
  """Points exactly on the ring's modes: the conditioning class's mode, else mode i % 8."""
  collapsed: bool = False

  def __call__(self, z, labels, train: bool):
    if labels.shape[-1]:
      modes = jnp.argmax(labels, axis=-1)
    else:
      modes = jnp.zeros(len(z), int) if self.collapsed else jnp.arange(len(z)) % len(MEANS)
    return jnp.asarray(MEANS, jnp.float32)[modes].reshape(len(z), 1, 1, 2)


class RecordingWriter:
  """Stands in for `logs.MetricWriter`, keeping what it is given."""

  def __init__(self):
    self.images, self.scalars = [], []

  def write_image(self, step, name, rgb):
    self.images.append((step, name, rgb))

  def write_scalars(self, step, scalars):
    self.scalars.append((step, scalars))


def _state(generator: nn.Module, latent_dim: int, label_dim: int):
  """A stand-in for `GANState`: the samplers only read `sampling_variables`."""
  variables = generator.init(jax.random.key(0), jnp.zeros((1, latent_dim)),
                             jnp.zeros((1, label_dim)), train=False)
  return types.SimpleNamespace(sampling_variables=variables)


def _read(path: pathlib.Path) -> np.ndarray:
  with Image.open(path) as picture:
    assert picture.mode == 'RGB'
    return np.asarray(picture)


@pytest.mark.parametrize('shape,columns,cell,expected', [
    ((8, 8, 1), 8, 32, (8 * 32 + 7 * 2, 8 * 32 + 7 * 2)),  # digits: enlarged 4x
    ((64, 64, 3), 8, 64, (8 * 64 + 7 * 2, 8 * 64 + 7 * 2)),  # DCGAN: already wide enough
    ((16, 16, 3), 3, 96, (2 * 96 + 2, 3 * 96 + 2 * 2))])  # 6x, two rows
def test_grid_png_has_the_expected_size_and_channels(tmp_path, shape, columns, cell, expected):
  generator = DenseImages(shape)
  rows = 8 if columns == 8 else 2
  sampler = image_samplers.ImageGridSampler(generator, 4, 0, 0, seed=1, rows=rows,
                                            columns=columns)
  writer = RecordingWriter()
  assert sampler.write(_state(generator, 4, 0), 42, str(tmp_path), writer, IDENTITY) == {}
  picture = _read(tmp_path / 'samples' / 'step_0000042.png')
  assert picture.shape == expected + (3,)
  first = picture[:cell, :cell]
  grey = (first[..., 0] == first[..., 1]).all() and (first[..., 1] == first[..., 2]).all()
  assert grey == (shape[-1] == 1)
  assert (picture[:cell, cell:cell + 2] == image_samplers.SEPARATOR_RGB).all()  # a separator
  (step, name, rgb), = writer.images
  assert (step, name, rgb.dtype) == (42, 'samples', np.uint8)
  np.testing.assert_array_equal(rgb, picture)


def test_grid_is_deterministic(tmp_path):
  generator = DenseImages((8, 8, 1))
  state = _state(generator, 4, 0)

  def png_bytes(seed, step):
    sampler = image_samplers.ImageGridSampler(generator, 4, 0, 0, seed=seed)
    sampler.write(state, step, str(tmp_path), RecordingWriter(), IDENTITY)
    return (tmp_path / 'samples' / f'step_{step:07d}.png').read_bytes()

  assert png_bytes(3, 1) == png_bytes(3, 2) == png_bytes(3, 3)
  assert png_bytes(4, 4) != png_bytes(3, 1)


def test_conditional_rows_show_their_class(tmp_path):
  num_classes, rows, columns = 3, 5, 2
  generator = ClassBrightness(num_classes)
  sampler = image_samplers.ImageGridSampler(generator, 4, num_classes, num_classes, seed=0,
                                            rows=rows, columns=columns)
  sampler.write(_state(generator, 4, num_classes), 7, str(tmp_path), RecordingWriter(), IDENTITY)
  picture = _read(tmp_path / 'samples' / 'step_0000007.png')
  cell, stride = 8 * 16, 8 * 16 + 2  # 16x enlarged 8x8 images, 2-pixel separators
  assert picture.shape == (rows * stride - 2, columns * stride - 2, 3)
  for row in range(rows):
    for column in range(columns):
      pixels = picture[row * stride:row * stride + cell, column * stride:column * stride + cell]
      assert (pixels == round(255 * (row % num_classes) / num_classes)).all(), (row, column)


def test_one_hot_and_bad_inputs():
  np.testing.assert_array_equal(image_samplers.one_hot(np.array([2, 0]), 3, 3),
                                [[0, 0, 1], [1, 0, 0]])
  assert image_samplers.one_hot(np.array([2, 0]), 3, 0).shape == (2, 0)
  with pytest.raises(ValueError, match='label_dim >= num_classes'):
    image_samplers.one_hot(np.array([1]), 10, 4)
  np.testing.assert_array_equal(image_samplers.one_hot(np.array([1]), 2, 4), [[0, 1, 0, 0]])
  with pytest.raises(ValueError, match='2 channels'):
    image_samplers.tile_images(np.zeros((4, 8, 8, 2)), 2)


def test_grid_writes_to_tensorboard(tmp_path):
  generator = DenseImages((8, 8, 3))
  sampler = image_samplers.ImageGridSampler(generator, 4, 0, 0, seed=0, rows=2, columns=2)
  writer = logs.MetricWriter(str(tmp_path), first_step=0)
  sampler.write(_state(generator, 4, 0), 5, str(tmp_path), writer, IDENTITY)
  writer.close()
  assert os.listdir(tmp_path / 'tensorboard')


@pytest.mark.fast
def test_mixture_metrics_of_points_on_every_mode():
  assert image_samplers.mixture_metrics(MEANS, RING) == {'high_quality_fraction': 1.0,
                                                         'modes_covered': 8}
  metrics = image_samplers.mixture_metrics(MEANS, RING, np.arange(8))
  assert metrics == {'high_quality_fraction': 1.0, 'modes_covered': 8, 'label_accuracy': 1.0}


def test_mixture_metrics_of_three_modes_and_outliers():
  points = np.concatenate([
      MEANS[[0, 0, 3, 3]] + [[SIGMA, 0], [0, -2 * SIGMA], [0, 0], [-SIGMA, SIGMA]],
      MEANS[[5]] + [[0, 2.9 * SIGMA]],  # still within 3 standard deviations
      MEANS[[1, 2]] + [[3.1 * SIGMA, 0], [0, 5 * SIGMA]],  # near modes 1 and 2, but not enough
      [[0, 0], [10, 10], [-1, 1]]])  # far from every mode
  metrics = image_samplers.mixture_metrics(points, RING)
  assert metrics == {'high_quality_fraction': 0.5, 'modes_covered': 3}
  assert image_samplers.mixture_metrics(points, RING, min_count=2)['modes_covered'] == 2


def test_ring_label_accuracy_counts_only_high_quality_points():
  points = np.concatenate([MEANS[[0, 1, 2, 3]], [[0.0, 0.0]]])
  classes = np.array([0, 1, 5, 3, 4])  # one wrong label; the far point's does not count
  assert image_samplers.mixture_metrics(points, RING, classes)['label_accuracy'] == 0.75
  far = image_samplers.mixture_metrics(np.zeros((3, 2)), RING, np.zeros(3, int))
  assert far == {'high_quality_fraction': 0.0, 'modes_covered': 0, 'label_accuracy': 0.0}


def test_mixture_metrics_of_real_data():
  points, modes = pilots.mixture_points(RING, 20_000, seed=0)
  metrics = image_samplers.mixture_metrics(points.reshape(-1, 2), RING, modes)
  assert metrics['high_quality_fraction'] == pytest.approx(1 - np.exp(-4.5), abs=0.004)
  assert (metrics['modes_covered'], metrics['label_accuracy']) == (8, 1.0)


def _validation(num: int = 300) -> Split:
  points, modes = pilots.mixture_points(RING, num, seed=1)
  return Split(points, {'mode': modes})


@pytest.mark.parametrize('label_dim', [0, 8])
def test_point_cloud_sampler_plots_and_measures(tmp_path, label_dim):
  generator = KnownPoints()
  sampler = image_samplers.PointCloudSampler(generator, 3, 8, label_dim, _validation(), seed=0,
                                             mixture=RING,
                                             num_points=64)
  writer = RecordingWriter()
  state = _state(generator, 3, label_dim)
  metrics = sampler.write(state, 9, str(tmp_path), writer, IDENTITY)
  expected = {'high_quality_fraction': 1.0, 'modes_covered': 8}
  assert metrics == (expected | {'label_accuracy': 1.0} if label_dim else expected)
  assert writer.scalars == [(9, metrics)]
  path = tmp_path / 'samples' / 'step_0000009.png'
  picture = _read(path)
  assert picture.shape == (500, 500, 3)
  np.testing.assert_array_equal(writer.images[0][2], picture)
  first = path.read_bytes()
  sampler.write(state, 9, str(tmp_path), writer, IDENTITY)
  assert path.read_bytes() == first


def test_point_cloud_colours_classes_over_grey_validation():
  sampler = image_samplers.PointCloudSampler(KnownPoints(), 3, 8, 8, _validation(), seed=0,
                                             mixture=RING,
                                             num_points=64)
  picture = sampler.plot(MEANS[np.arange(64) % 8], 0, {'modes_covered': 8,
                                                        'high_quality_fraction': 1.0})

  def present(rgb):
    return (np.abs(picture.astype(int) - rgb).max(axis=-1) <= 8).any()
  assert present((191, 191, 191))  # the validation points' 0.75 grey
  assert present((31, 119, 180)) and present((227, 119, 194))  # tab10: class 0 and class 6


def test_point_cloud_sampler_sees_a_collapse(tmp_path):
  generator = KnownPoints(collapsed=True)
  sampler = image_samplers.PointCloudSampler(generator, 3, 8, 0, _validation(), seed=0,
                                             mixture=RING,
                                             num_points=64)
  metrics = sampler.write(_state(generator, 3, 0), 1, str(tmp_path), RecordingWriter(), IDENTITY)
  assert metrics == {'high_quality_fraction': 1.0, 'modes_covered': 1}


def test_point_cloud_sampler_needs_points():
  with pytest.raises(ValueError, match=r'\(N, 1, 1, 2\)'):
    image_samplers.PointCloudSampler(KnownPoints(), 3, 0, 0,
                                     Split(np.zeros((4, 8, 8, 1)), {}), seed=0, mixture=RING)


COLOURS = {2: (0, 255, 0), 10: (255, 0, 0), 100: (0, 0, 255)}


def test_save_animation_orders_frames_by_step(tmp_path):
  for step, colour in COLOURS.items():  # unpadded names: step order is not name order
    Image.new('RGB', (16, 12), colour).save(tmp_path / f'step_{step}.png')
  Image.new('RGB', (16, 12), (255, 255, 255)).save(tmp_path / 'reference.png')
  (tmp_path / 'notes.txt').write_text('not a frame')
  output = tmp_path / 'out' / 'samples.gif'
  assert logs.save_animation(str(tmp_path), str(output), frame_ms=120) == 3
  assert sorted(os.listdir(output.parent)) == ['samples.gif']
  with Image.open(output) as gif:
    assert (gif.format, gif.n_frames, gif.size) == ('GIF', 3, (16, 12))
    for index, step in enumerate(sorted(COLOURS)):
      gif.seek(index)
      assert gif.info['duration'] == 120
      np.testing.assert_array_equal(np.asarray(gif.convert('RGB'))[6, 8], COLOURS[step])


def test_save_animation_without_frames_warns(tmp_path, caplog):
  caplog.set_level(logging.WARNING, logger='absl')
  Image.new('RGB', (4, 4)).save(tmp_path / 'reference.png')
  output = tmp_path / 'samples.gif'
  assert logs.save_animation(str(tmp_path), str(output)) == 0
  assert logs.save_animation(str(tmp_path / 'missing'), str(output)) == 0
  assert not output.exists()
  assert sum('No step_*.png frames' in r.getMessage() for r in caplog.records) == 2


def test_mixture_metrics_of_the_grid():
  """Points on 20 of the 25 grid modes (std 0.05: 3 std = 0.15), plus one just outside."""
  grid = pilots.MIXTURES['gaussian_grid']
  points = np.concatenate([grid.means[:20] + [0.14, 0.0], [[1.0, 1.0]]])
  assert image_samplers.mixture_metrics(points, grid) == {
      'high_quality_fraction': pytest.approx(20 / 21), 'modes_covered': 20}


def test_each_dataset_is_shown_by_the_sampler_of_its_grid():
  """The registry builds what each entry's grid asks for: the ring's points with the ring's
  mixture, the digits' grid a row per class, telescope data the labelled grid with its camera."""
  ring = dataset.get_dataset('gaussian_ring')
  spec = ring.labels
  points = image_samplers.make_sampler(ring.grid, KnownPoints(), 3, spec, _validation(),
                                       _validation(), seed=0)
  assert isinstance(points, image_samplers.PointCloudSampler) and points.mixture is RING
  digits = dataset.get_dataset('digits')
  grid = image_samplers.make_sampler(digits.grid, DenseImages((8, 8, 1)), 4, digits.labels,
                                     None, None, seed=0)
  assert isinstance(grid, image_samplers.ImageGridSampler)
  telescope = dataset.get_dataset('toy_iact')
  assert {entry.grid.kind for entry in dataset.DATASETS.values()} <= set(image_samplers.SAMPLERS)
  with pytest.raises(ValueError, match="needs the data's camera"):
    image_samplers.make_sampler(telescope.grid, DenseImages((43, 43, 1)), 4, telescope.labels,
                                None, None, seed=0, camera=None)
  with pytest.raises(ValueError, match="'spiral' is unknown"):
    image_samplers.make_sampler(dataset.SampleGrid('spiral'), KnownPoints(), 3, spec, None,
                                None, seed=0)
