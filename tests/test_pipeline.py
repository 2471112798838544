"""Batch order, normalisation and sharding of the training pipeline."""

import numpy as np
import pytest

from jaxgan.data import pipeline
from jaxgan.data.split import Split


def make_split(num=10):
  images = np.arange(num * 4, dtype=np.float32).reshape(num, 2, 2, 1)
  labels = {'particletype': np.arange(num) % 2, 'energy': np.arange(num, dtype=np.float32),
            'direction': np.zeros((num, 2), np.float32)}
  return Split(images, labels)


def test_each_epoch_visits_every_example_once_in_a_seeded_order():
  steps_per_epoch = 10 // 3
  epoch0 = np.concatenate([pipeline.batch_indices(10, 3, seed=7, step=s)
                           for s in range(steps_per_epoch)])
  assert len(set(epoch0.tolist())) == 9  # the incomplete last batch is dropped
  again = pipeline.batch_indices(10, 3, seed=7, step=1)
  np.testing.assert_array_equal(again, epoch0[3:6])
  order = pipeline.epoch_permutation(10, 7, 0)
  np.testing.assert_array_equal(pipeline.batch_indices(10, 3, seed=7, step=steps_per_epoch),
                                pipeline.epoch_permutation(10, 7, 1)[:3])
  assert not np.array_equal(pipeline.epoch_permutation(10, 7, 1), order)  # reshuffled per epoch
  assert not np.array_equal(pipeline.epoch_permutation(10, 8, 0), order)  # and per seed


def test_batch_larger_than_the_split_is_refused():
  with pytest.raises(ValueError, match='batch_size=11'):
    pipeline.batch_indices(10, 11, seed=0, step=0)


@pytest.mark.parametrize('transform', pipeline.TRANSFORMS)
def test_normalisation_inverts(transform):
  norm = pipeline.Normalisation(scale=2.5, transform=transform)
  x = np.array([-3.0, 0.0, 0.7, 40.0, 3000.0], np.float32)
  np.testing.assert_allclose(norm.inverse(norm.forward(x)), x, rtol=1e-5, atol=1e-5)


def test_asinh_is_linear_near_zero_and_logarithmic_far_out():
  norm = pipeline.Normalisation(scale=2.0, transform='asinh')
  assert norm.forward(np.float32(0.02)) == pytest.approx(0.01, rel=1e-4)
  assert norm.forward(np.float32(2000.0)) == pytest.approx(np.log(2 * 1000.0), rel=1e-4)


def test_bad_normalisation_is_refused():
  with pytest.raises(ValueError, match='transform'):
    pipeline.Normalisation(1.0, 'log')
  with pytest.raises(ValueError, match='image_scale'):
    pipeline.Normalisation(0.0)


def test_noise_scale_of_gaussian_noise_is_its_sigma():
  rng = np.random.default_rng(0)
  images = rng.normal(0.0, 3.0, (200, 20, 20, 1)).astype(np.float32)
  images[:, 5, 5, 0] += 1000.0  # bright shower pixels do not move a robust estimate
  split = Split(images, make_split(200).labels)
  assert pipeline.noise_scale(split) == pytest.approx(3.0, rel=0.03)


def test_noise_scale_of_cleaned_images_falls_back_to_signal_level():
  images = np.zeros((10, 4, 4, 1), np.float32)
  images[:, 0, 0, 0] = 8.0
  assert pipeline.noise_scale(Split(images, make_split(10).labels)) == 8.0


def test_training_batch_is_normalised_and_sharded():
  split = make_split()
  norm = pipeline.Normalisation(scale=1.0, transform='linear')
  batch = pipeline.training_batch(split, 4, seed=0, step=0, normalisation=norm, num_devices=2)
  assert batch['images'].shape == (2, 2, 2, 2, 1)
  assert batch['labels']['direction'].shape == (2, 2, 2)
  indices = pipeline.batch_indices(10, 4, seed=0, step=0)
  np.testing.assert_array_equal(batch['images'].reshape(4, 2, 2, 1), split.images[indices])
  np.testing.assert_array_equal(batch['labels']['energy'].reshape(4), indices.astype(np.float32))
