"""The training step compiles once: later iterations of a run, and the iterations after a
checkpoint is saved, reuse the first compilation (a recompilation would cost as much as the
first iteration on every later step)."""

import jax
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import checkpoint
from jaxgan import generation
from jaxgan import labels as labels_lib
from jaxgan import steps
from jaxgan import train
from jaxgan.data import pipeline
from tests.helpers import tiny_config

BACKEND_COMPILE = '/jax/core/compile/backend_compile_duration'


@pytest.fixture
def compiles_per_call(monkeypatch):
  """The number of XLA compilations during each call of the pmap-ed training iteration."""
  events, counts = [], []
  jax.monitoring.register_event_duration_secs_listener(
      lambda name, duration, **kwargs: events.append(name))
  make = steps.make_parallel_iteration

  def counting(*args, **kwargs):
    iteration = make(*args, **kwargs)

    def call(*call_args):
      before = events.count(BACKEND_COMPILE)
      result = iteration(*call_args)
      counts.append(events.count(BACKEND_COMPILE) - before)
      return result

    return call

  monkeypatch.setattr(steps, 'make_parallel_iteration', counting)
  return counts


def test_the_training_step_compiles_once(tmp_path, compiles_per_call):
  config = tiny_config(num_steps=4, num_devices=2, checkpoint_every=1)
  config.model.conditioning = 'cgan'  # no predictor to pretrain
  train.train_and_evaluate(config, str(tmp_path))
  assert compiles_per_call[0] >= 1
  assert compiles_per_call[1:] == [0, 0, 0]


@pytest.mark.fast
def test_shard_puts_slice_i_on_device_i_as_pmap_lays_out_its_outputs():
  devices = jax.local_devices()[:4]
  host = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
  placed = steps.shard({'x': host}, devices)['x']
  for index, device in enumerate(devices):
    (part,) = [shard for shard in placed.addressable_shards if shard.device == device]
    np.testing.assert_array_equal(np.asarray(part.data).reshape(3), host[index])
  doubled = jax.pmap(lambda x: 2 * x, axis_name=steps.AXIS_NAME, devices=devices)(host)
  assert placed.sharding == doubled.sharding


def test_the_generator_compiles_once_per_architecture_and_batch_size():
  """Evaluations during training rebuild the generator module from the config each time."""
  events = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda name, duration, **kwargs: events.append(name))
  config = tiny_config()
  state = assembly.initial_state(config, (43, 43, 1))
  compiles = []
  for _ in range(3):
    generator = checkpoint.TrainedGenerator(
        workdir='', module=assembly.build_networks(config)[0], variables=state.sampling_variables,
        latent_dim=config.model.latent_dim, label_dim=labels_lib.LABEL_DIM,
        normalisation=pipeline.Normalisation(1.0, 'asinh'), image_shape=(43, 43, 1),
        camera=camera_lib.Camera(0.1, 6.0, 3.0), step=0, ema=False)
    before = events.count(BACKEND_COMPILE)
    generation._compiled_generate(generator, jax.random.key(0), batch_size=4)
    compiles.append(events.count(BACKEND_COMPILE) - before)
  assert compiles[0] >= 1
  assert compiles[1:] == [0, 0]
