"""The training step compiles once: later iterations of a run, and the iterations after a
checkpoint is saved, reuse the first compilation (a recompilation would cost as much as the
first iteration on every later step)."""

import jax
import pytest

from jaxgan import steps
from jaxgan import train
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
