"""The label predictor trained alongside the critic: one Adam step against a hand-written
`jax.grad`, the frozen path unchanged, 2 devices against 1, bitwise resume, a bad config refused."""

import shutil

import jax
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import checkpoint
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan import losses
from jaxgan import predictor_training
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan import train
from jaxgan.models import predictor as predictor_lib
from tests.helpers import saved_tiny_predictor
from tests.helpers import tiny_config

IMAGE_SHAPE = (43, 43, 1)


def predictor_config(alongside):
  """The tiny config with one critic update per iteration, the predictor frozen or alongside."""
  config = tiny_config()
  config.train.n_critic = 1
  config.predictor.alongside = alongside
  return config


def start_state(config, predictor_variables):
  """The initial state of `config`'s run, starting the predictor from `predictor_variables`."""
  generator, critic = assembly.build_networks(config)
  generator_tx, critic_tx = assembly.make_optimizers(config)
  return state_lib.init_state(
      jax.random.key(0), generator, critic, generator_tx, critic_tx, config.model.latent_dim,
      labels_lib.LABEL_DIM, IMAGE_SHAPE, predictor_variables=predictor_variables,
      predictor_tx=assembly.predictor_optimizer(config))


def one_iteration(config, state, batch, predictor_variables, num_devices):
  """One pmap-ed iteration of `config` on `num_devices` from a host state and a global batch;
  returns the host state and the metrics."""
  devices = jax.devices()[:num_devices]
  predictor = predictor_lib.predictor_from_config(config.predictor, axis_name=steps.AXIS_NAME)
  iteration = steps.make_parallel_iteration(assembly.build_step_config(config, predictor),
                                            devices)
  sharded = jax.tree.map(lambda x: x.reshape((num_devices, -1, *x.shape[1:])), batch)
  outputs = iteration(steps.replicate(state, devices), sharded,
                      steps.replicate(predictor_variables, devices))
  return jax.tree.map(lambda x: np.asarray(x[0]), outputs)


@pytest.fixture(scope='module')
def alongside_run():
  """(config, start state, global batch, state and metrics after one iteration on 1 device) of a
  predictor trained alongside from a fresh initialisation, on a random batch of 8."""
  config = predictor_config(alongside=True)
  model = predictor_lib.predictor_from_config(config.predictor)
  start = start_state(config, predictor_training.init_variables(model, IMAGE_SHAPE, 0))
  rng = np.random.default_rng(0)
  batch = {'images': rng.normal(size=(8, *IMAGE_SHAPE)).astype(np.float32),
           'labels': {'particletype': rng.integers(0, 2, 8).astype(np.int32),
                      'energy': rng.normal(size=8).astype(np.float32),
                      'direction': rng.normal(size=(8, 2)).astype(np.float32)}}
  return (config, start, batch, *one_iteration(config, start, batch, {}, 1))


def test_alongside_predictor_takes_one_adam_step_on_the_real_batch(alongside_run):
  """Adam's first step from gradient g is -lr g / (|g| + eps): m and v bias-correct to g, g^2."""
  config, start, batch, state, metrics = alongside_run
  model = predictor_lib.predictor_from_config(config.predictor)

  def label_loss(params):
    predictions, updates = model.apply({'params': params,
                                        'batch_stats': start.predictor_batch_stats},
                                       batch['images'], train=True, mutable=['batch_stats'])
    per_label = losses.label_losses(predictions, batch['labels'], labels_lib.TELESCOPE)
    return sum(per_label.values()), updates['batch_stats']

  (loss, batch_stats), grads = jax.jit(jax.value_and_grad(label_loss, has_aux=True))(
      start.predictor_params)
  lr = config.predictor.learning_rate
  adam = state.predictor_opt_state[0]
  assert int(adam.count) == 1
  assert metrics['predictor_loss'] == pytest.approx(float(loss), rel=1e-5)
  for got, before, mu, g in zip(*map(jax.tree.leaves, (state.predictor_params,
                                                         start.predictor_params, adam.mu, grads)),
                                strict=True):
    np.testing.assert_allclose(mu, 0.1 * g, rtol=1e-3, atol=1e-5 * np.abs(g).max())
    clear = np.abs(g) > 1e-5  # below, the update's size hangs on float noise in g
    np.testing.assert_allclose((got - before)[clear], (-lr * g / (np.abs(g) + 1e-8))[clear],
                               rtol=1e-3)
  assert sum(int(np.sum(np.abs(g) > 1e-5)) for g in jax.tree.leaves(grads)) > 200
  for got, want in zip(jax.tree.leaves(state.predictor_batch_stats),
                       jax.tree.leaves(batch_stats), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_frozen_predictor_stays_out_of_the_state_and_judges_unmoved(alongside_run):
  """Same start, predictor frozen: the critic's update is the same, the predictor fields stay
  empty, and the generator's predictor losses differ (the alongside predictor moved first)."""
  config, start, batch, moved, moved_metrics = alongside_run
  frozen_config = predictor_config(alongside=False)
  frozen_start = start_state(frozen_config, start.predictor_variables)
  frozen, metrics = one_iteration(frozen_config, frozen_start, batch, start.predictor_variables,
                                  1)
  for state in (frozen_start, frozen):
    assert (state.predictor_params, state.predictor_batch_stats,
            state.predictor_opt_state) == ({}, {}, {})
  assert not any(name.startswith('predictor_') for name in metrics)
  assert metrics['critic_loss'] == pytest.approx(moved_metrics['critic_loss'], rel=1e-6)
  for got, want in zip(jax.tree.leaves(frozen.critic_params), jax.tree.leaves(moved.critic_params),
                       strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  for name in ('generator_particletype', 'generator_energy', 'generator_direction'):
    assert abs(metrics[name] - moved_metrics[name]) > 1e-3 * abs(metrics[name]), name


def test_alongside_predictor_on_two_devices_matches_one(alongside_run):
  """Same global batch on 2 devices: cross-device gradients and BatchNorm statistics."""
  config, start, batch, one, one_metrics = alongside_run
  two, two_metrics = one_iteration(config, start, batch, {}, 2)
  for x, y in zip(jax.tree.leaves((one, one_metrics)), jax.tree.leaves((two, two_metrics)),
                  strict=True):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=2e-4, atol=2e-5)


@pytest.fixture(scope='module')
def predictor_dir(tmp_path_factory):
  """The predictor that the tiny run below would train for itself, trained and saved apart."""
  return saved_tiny_predictor(str(tmp_path_factory.mktemp('predictor')))


def test_alongside_predictor_is_checkpointed_and_resumes_bitwise(tmp_path, predictor_dir):
  """2 iterations straight == 1 + resume from its checkpoint + 1; the live predictor is in the
  checkpoints (and `checkpoint.restore_state` reads them back)."""
  config = tiny_config(checkpoint_every=1)
  config.predictor.update(num_steps=1, alongside=True, checkpoint=predictor_dir)
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  shutil.copytree(tmp_path / 'straight', tmp_path / 'resumed')
  shutil.rmtree(tmp_path / 'resumed' / 'checkpoints' / '2')
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
    np.testing.assert_array_equal(x, y)
  pretrained = predictor_training.load_predictor(predictor_dir, config.predictor, IMAGE_SHAPE)
  assert int(straight.predictor_opt_state[0].count) == 2 * config.train.n_critic
  assert not all(np.array_equal(x, y) for x, y in zip(
      jax.tree.leaves(straight.predictor_params), jax.tree.leaves(pretrained['params'])))
  _, restored, step = checkpoint.restore_state(str(tmp_path / 'straight'))
  assert step == 2
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(restored), strict=True):
    np.testing.assert_array_equal(x, y)
  final = [row for row in logs.read_metrics(str(tmp_path / 'straight')) if 'critic_loss' in row]
  assert {'predictor_loss', 'predictor_energy'} <= set(final[-1])


def test_alongside_without_the_predictor_mode_is_refused(tmp_path):
  config = tiny_config()
  config.model.conditioning = 'cgan'
  config.predictor.alongside = True
  with pytest.raises(ValueError, match=r"predictor\.alongside=True.*model\.conditioning='cgan'"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / 'predictor').exists()
