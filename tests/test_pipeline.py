"""Batch order, normalisation and sharding of the training pipeline; data kept on the devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import train
from jaxgan.data import pipeline
from jaxgan.data import toy_iact
from jaxgan.data.split import Split
from tests.helpers import tiny_config


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
@pytest.mark.fast
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


class _DiskImages:
  """Stands in for images read from disk as they are needed (not a numpy array)."""

  def __init__(self, images):
    self.images = images

  def __len__(self):
    return len(self.images)

  @property
  def shape(self):
    return self.images.shape


def test_data_stays_on_the_devices_when_asked_or_when_it_fits():
  split = make_split(10)
  size = 10 * 4 * 4 + 10 * 8 + 10 * 4 + 10 * 2 * 4  # float32 images, int64 type, energy, direction
  assert pipeline.device_bytes(split) == size
  assert pipeline.keep_on_devices('auto', split, copies=2, memory_bytes=2 * size * 4)
  assert not pipeline.keep_on_devices('auto', split, copies=2, memory_bytes=2 * size * 4 - 1)
  on_disk = Split(_DiskImages(split.images), split.labels)
  assert not pipeline.keep_on_devices('auto', on_disk, copies=1, memory_bytes=10 ** 12)
  assert pipeline.keep_on_devices('always', on_disk, copies=1, memory_bytes=1)
  assert not pipeline.keep_on_devices('never', split, copies=1, memory_bytes=10 ** 12)
  with pytest.raises(ValueError, match='train.data_on_device'):
    pipeline.keep_on_devices('gpu', split, copies=1, memory_bytes=1)


def test_training_on_resident_data_equals_training_on_sent_batches(tmp_path):
  states = []
  for mode in ('always', 'never'):
    config = tiny_config(num_devices=2, data_on_device=mode)
    config.model.conditioning = 'cgan'  # no predictor to pretrain
    states.append(train.train_and_evaluate(config, str(tmp_path / mode)))
  for resident, sent in zip(*map(jax.tree.leaves, states), strict=True):
    np.testing.assert_array_equal(np.asarray(resident), np.asarray(sent))


def test_simulated_events_follow_the_data_set_and_split_like_batches():
  events = pipeline.simulated_events(160, 8, step=2, num_devices=2)
  np.testing.assert_array_equal(events, (176 + np.arange(8)).reshape(2, 4))
  assert events.dtype == np.int32
  second_process = pipeline.simulated_events(160, 8, step=2, num_devices=4, process_index=1,
                                             process_count=2)
  np.testing.assert_array_equal(second_process, events[1].reshape(2, 2))
  with pytest.raises(ValueError, match='int32'):
    pipeline.simulated_events(160, 2 ** 20, step=2 ** 11, num_devices=1)


def test_the_step_simulates_the_events_that_simulate_would_give():
  config = tiny_config()
  config.data.online_simulation = True
  normalisation = pipeline.Normalisation(1.7)
  simulate = assembly.online_simulator(config, normalisation)
  events = jax.jit(simulate)(jnp.arange(160, 168, dtype=jnp.int32))
  images, labels = toy_iact.simulate(jax.random.key(config.data.seed), 168, config.data.toy_iact)
  np.testing.assert_allclose(events['images'], normalisation.forward(images[160:]), atol=1e-5)
  for name, values in labels.items():
    np.testing.assert_allclose(events['labels'][name], values[160:], atol=1e-6)


def test_online_simulation_trains_alike_on_one_and_two_devices(tmp_path):
  states = []
  for num_devices in (1, 2):
    config = tiny_config(num_devices=num_devices)
    config.data.online_simulation = True
    config.model.conditioning = 'cgan'  # no predictor to pretrain
    states.append(train.train_and_evaluate(config, str(tmp_path / str(num_devices))))
  for one, two in zip(*map(jax.tree.leaves, states), strict=True):
    np.testing.assert_allclose(np.asarray(one), np.asarray(two), rtol=1e-4, atol=1e-5)


def test_online_simulation_is_refused_for_other_data():
  config = tiny_config()
  config.data.update(name='hdf5', online_simulation=True)
  with pytest.raises(ValueError, match='data.online_simulation'):
    train.check_config(config, num_devices=1)
