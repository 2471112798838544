"""The image_folder, digits and Gaussian-mixture datasets, loaded via the `data.name` registry."""

import logging
import pathlib

import jax
import ml_collections
import numpy as np
from PIL import Image
import pytest

from jaxgan import camera as camera_lib
from jaxgan.data import dataset
from jaxgan.data import pilots
from jaxgan.data import toy_iact


def _data_config(name: str, **overrides) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict({'name': name, 'path': '', 'num_examples': 40, 'seed': 0,
                                      'validation_fraction': 0.25})
  config.update(overrides)
  return config


def _load(name: str, **overrides) -> tuple[dataset.Split, dataset.Split]:
  return dataset.load_splits(_data_config(name, **overrides))


def _assert_same(a: tuple[dataset.Split, dataset.Split], b: tuple[dataset.Split, dataset.Split]):
  for split_a, split_b in zip(a, b):
    np.testing.assert_array_equal(split_a.images, split_b.images)
    assert split_a.labels.keys() == split_b.labels.keys()
    for name in split_a.labels:
      np.testing.assert_array_equal(split_a.labels[name], split_b.labels[name])


def test_builtin_photographs_default_to_64x64_unlabelled():
  train, validation = _load('image_folder', num_examples=8)
  assert (len(train), len(validation)) == (6, 2)
  assert train.images.shape == (6, 64, 64, 3) and train.images.dtype == np.float32
  assert train.images.min() >= -1.0 and train.images.max() <= 1.0
  assert train.labels == {} and validation.labels == {}


def test_builtin_photographs_size_and_seed():
  first = _load('image_folder', num_examples=8, image_size=16, seed=3)
  assert first[0].image_shape == (16, 16, 3)
  _assert_same(first, _load('image_folder', num_examples=8, image_size=16, seed=3))
  assert not np.array_equal(first[0].images,
                            _load('image_folder', num_examples=8, image_size=16, seed=4)[0].images)


def test_image_folder_skips_a_corrupt_file_with_one_warning(tmp_path: pathlib.Path, caplog):
  for index, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]):
    Image.new('RGB', (40 + 10 * index, 30), colour).save(tmp_path / f'{index}.png')
  (tmp_path / '2_corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
  caplog.set_level(logging.INFO, logger='absl')
  train, validation = _load('image_folder', path=str(tmp_path), image_size=8)
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1 and '2_corrupt.jpg' in warnings[0]
  assert train.images.shape == (3, 8, 8, 3) and validation.images.shape == (1, 8, 8, 3)
  np.testing.assert_allclose(validation.images[0], np.broadcast_to([1.0, 1.0, -1.0], (8, 8, 3)),
                             atol=0.01)  # the last file in sorted order: yellow


@pytest.mark.fast
def test_digits():
  train, validation = _load('digits', validation_fraction=0.2)
  assert (len(train), len(validation)) == (1438, 359)
  assert train.images.shape == (1438, 8, 8, 1) and train.images.dtype == np.float32
  assert train.images.min() == -1.0 and train.images.max() == 1.0
  levels = (train.images + 1.0) * 8.0  # back to scikit-learn's integer intensities 0..16
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-5)
  for split in (train, validation):
    assert set(split.labels) == {'digit'} and split.labels['digit'].dtype == np.int32
    assert set(np.unique(split.labels['digit'])) == set(range(10))
  _assert_same((train, validation), _load('digits', validation_fraction=0.2, seed=7))


def test_digit_labels_match_their_images():
  """The mean 0 is a ring, dark in the middle; the mean 1 is a bright vertical bar."""
  images, digits = pilots.digits()
  zero, one = images[digits == 0, ..., 0].mean(axis=0), images[digits == 1, ..., 0].mean(axis=0)
  assert zero[3:5, 3:5].mean() < zero[3:5, 2].mean() - 1.0
  assert one[:, 1].mean() < one[:, 3:5].mean() - 1.0


@pytest.mark.fast
def test_gaussian_ring_shapes_and_seed():
  train, validation = _load('gaussian_ring', num_examples=40)
  assert train.images.shape == (30, 1, 1, 2) and validation.images.shape == (10, 1, 1, 2)
  assert train.images.dtype == np.float32 and train.labels['mode'].dtype == np.int32
  _assert_same((train, validation), _load('gaussian_ring', num_examples=40))
  assert not np.array_equal(train.images, _load('gaussian_ring', num_examples=40, seed=1)[0].images)


def test_gaussian_ring_modes_follow_the_definition():
  """8 equally likely Gaussians, std 0.02, means 2 (cos 2 pi k / 8, sin 2 pi k / 8)."""
  train, _ = _load('gaussian_ring', num_examples=16_000, seed=5, validation_fraction=0.5)
  points, modes = train.images.reshape(-1, 2).astype(np.float64), train.labels['mode']
  counts = np.bincount(modes, minlength=8)
  assert len(counts) == 8 and np.all(np.abs(counts / len(modes) - 1 / 8) < 0.015)
  means = np.array([points[modes == k].mean(axis=0) for k in range(8)])
  stds = np.array([points[modes == k].std(axis=0) for k in range(8)])
  angles = np.pi / 4 * np.arange(8)
  np.testing.assert_allclose(means, 2.0 * np.stack([np.cos(angles), np.sin(angles)], -1),
                             atol=0.003)
  np.testing.assert_allclose(stds, 0.02, rtol=0.1)
  assert np.max(np.linalg.norm(points - means[modes], axis=-1)) < 0.2  # every point near its mode


def test_unknown_name_lists_the_datasets():
  with pytest.raises(ValueError, match='digits.*gaussian_grid.*image_folder'):
    _load('mnist')


def test_gaussian_grid_modes_follow_the_definition():
  """25 equally likely Gaussians, std 0.05, means on {-4, -2, 0, 2, 4}^2."""
  train, _ = _load('gaussian_grid', num_examples=50_000, seed=2, validation_fraction=0.5)
  points, modes = train.images.reshape(-1, 2).astype(np.float64), train.labels['mode']
  counts = np.bincount(modes, minlength=25)
  assert len(counts) == 25 and np.all(np.abs(counts / len(modes) - 1 / 25) < 0.006)
  means = np.array([points[modes == k].mean(axis=0) for k in range(25)])
  expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
  assert {tuple(np.round(m).astype(int)) for m in means} == expected
  np.testing.assert_allclose(means, np.round(means), atol=0.01)
  stds = np.array([points[modes == k].std(axis=0) for k in range(25)])
  np.testing.assert_allclose(stds, 0.05, rtol=0.1)


def test_in_memory_hold_out_is_the_last_fraction():
  points, modes = pilots.mixture_points(pilots.MIXTURES['gaussian_ring'], 40, 0)
  train, validation = _load('gaussian_ring', num_examples=40)
  for split, rows in [(train, slice(0, 30)), (validation, slice(30, 40))]:
    assert isinstance(split.images, np.ndarray)
    np.testing.assert_array_equal(split.images, points[rows], strict=True)
    np.testing.assert_array_equal(split.labels['mode'], modes[rows], strict=True)
  with pytest.raises(ValueError, match='leaves an empty split of 40 examples'):
    _load('gaussian_ring', num_examples=40, validation_fraction=0.01)


def test_entries_describe_their_camera_and_simulator():
  """The simulated camera follows `data.toy_iact`; the pilots have none; only the simulator's
  data can be simulated during training, and it draws the events of `data.seed`'s stream."""
  toy = toy_iact.default_config()
  toy.update(pixel_size_deg=0.15, tailcut_picture_pe=7.0, tailcut_boundary_pe=2.5, chunk_size=4)
  config = _data_config('toy_iact', toy_iact=toy, seed=3)
  assert dataset.camera_of(config) == camera_lib.Camera(0.15, 7.0, 2.5)
  assert dataset.camera_of(_data_config('digits')) is None
  assert dataset.camera_of(_data_config('gaussian_ring')) is None
  images, labels = dataset.simulator_of(config)(jax.numpy.arange(2, 4))
  expected_images, expected_labels = toy_iact.simulate(jax.random.key(3), 4, toy)
  np.testing.assert_allclose(images, expected_images[2:], atol=1e-4)
  np.testing.assert_array_equal(labels['energy'], expected_labels['energy'][2:])
  with pytest.raises(ValueError, match=r"data.name='digits' cannot be simulated.*\['toy_iact'\]"):
    dataset.simulator_of(_data_config('digits'))
