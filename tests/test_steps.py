"""The training step's pluggable parts: penalties, weight clipping, conditioning modes, losses."""

import importlib
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import generate
from jaxgan import logs
from jaxgan import losses
from jaxgan import models
from jaxgan import predictor_training
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan import train
from jaxgan.data import labels as labels_lib
from jaxgan.models import mlp
from jaxgan.models import predictor as predictor_lib
from tests.helpers import tiny_config


def pmapped_penalty(penalty, scores_fn, real, fake, update=0):
  """`steps.penalty_term` on one device, as the step calls it (inside pmap)."""
  run = jax.pmap(lambda r, f: steps.penalty_term(penalty, scores_fn, r, f, jax.random.key(0),
                                                 update),
                 axis_name=steps.AXIS_NAME, devices=jax.devices()[:1])
  term, value = run(real[None], fake[None])
  return float(term[0]), float(value[0])


@pytest.mark.parametrize('interpolation,expected', [
    ('uniform', 1 / 3),  # E[(u - 1)^2], u ~ U(0, 1)
    ('normal', 2 - 2 * np.sqrt(2 / np.pi)),  # E[(|n| - 1)^2], n ~ N(0, 1)
])
def test_gradient_penalty_draws_eps_as_configured(interpolation, expected):
  """D(x) = x^2 / 2 on one pixel, real 0, fake 1: xhat = eps, and the penalty is E[(|eps|-1)^2]."""
  batch = 4096
  real, fake = jnp.zeros((batch, 1, 1, 1)), jnp.ones((batch, 1, 1, 1))
  scores_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
  term, value = pmapped_penalty(steps.Penalty('gp', 10.0, interpolation), scores_fn, real, fake)
  assert value == pytest.approx(expected, abs=0.03)  # 4096 draws: standard error ~0.006
  assert term == pytest.approx(10.0 * value)


def test_r1_is_applied_lazily_and_scaled_by_its_interval():
  """Linear critic <w, x>: R1 = ||w||^2; with every=4 it counts on updates 0, 4, 8, ... only."""
  w = jnp.arange(4.0).reshape(1, 2, 2, 1)
  scores_fn = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  real = jax.random.normal(jax.random.key(1), (3, 2, 2, 1))
  penalty = steps.Penalty('r1', weight=2.0, every=4)
  term, value = pmapped_penalty(penalty, scores_fn, real, real, update=8)
  assert value == pytest.approx(14.0)  # 0 + 1 + 4 + 9
  assert term == pytest.approx(2.0 / 2 * 4 * 14.0)
  assert pmapped_penalty(penalty, scores_fn, real, real, update=9) == (0.0, 0.0)


def test_dragan_perturbation_uses_the_global_batch_spread():
  """On 4 devices with differently scaled shards, std(x) is that of all shards together."""
  devices = jax.devices()[:4]
  shards = jnp.stack([scale * jnp.ones((2, 3, 3, 1)) for scale in (1.0, 2.0, -1.0, 5.0)])
  noise = jnp.ones_like(shards)
  perturb = jax.pmap(lambda x, u: losses.dragan_perturbation(x, u, axis_name='d'),
                     axis_name='d', devices=devices)
  expected = 0.5 * np.std(np.asarray(shards))
  np.testing.assert_allclose(np.asarray(perturb(shards, noise)), expected, rtol=1e-5)


def run_tiny(tmp_path, **overrides):
  """One tiny training run of 2 iterations with `overrides` ('section.field': value)."""
  config = tiny_config()
  config.predictor.num_steps = 1
  for dotted, value in overrides.items():
    section, field = dotted.split('.')
    config[section][field] = value
  state = train.train_and_evaluate(config, str(tmp_path))
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'critic_loss' in row][-1]
  assert all(np.isfinite(v) for v in final.values()), final
  return state, final


def test_weight_clipping_bounds_every_critic_parameter(tmp_path):
  state, metrics = run_tiny(tmp_path, **{'loss.penalty': 'none', 'loss.clip': 0.01})
  assert 'gradient_penalty' not in metrics
  leaves = jax.tree.leaves(state.critic_params)
  assert max(float(np.abs(leaf).max()) for leaf in leaves) <= 0.01
  assert any(float(np.abs(leaf).max()) == pytest.approx(0.01) for leaf in leaves)  # it bites


def test_acgan_head_trains_on_real_and_fake_and_drives_the_generator(tmp_path):
  state, metrics = run_tiny(tmp_path, **{
      'model.conditioning': 'acgan', 'loss.name': 'non_saturating', 'loss.label_smoothing': 0.1,
      'loss.penalty': 'dragan'})
  for name in ('critic_real_direction', 'critic_fake_energy', 'generator_acgan_particletype',
               'dragan_penalty'):
    assert name in metrics, name
  assert 'generator_particletype' not in metrics  # no external predictor
  assert state.critic_params['CriticHead_0']['aux']['kernel'].shape[-1] == labels_lib.LABEL_DIM
  assert not (tmp_path / 'predictor').exists()


def test_cgan_projects_labels_and_unconditional_drops_them(tmp_path):
  state, metrics = run_tiny(tmp_path / 'cgan', **{
      'model.conditioning': 'cgan+predictor', 'loss.name': 'hinge', 'loss.penalty': 'r1',
      'loss.r1_every': 2})
  assert 'label_projection' in state.critic_params['CriticHead_0']
  assert 'r1_penalty' in metrics and 'generator_direction' in metrics
  config = tiny_config()
  state, _ = run_tiny(tmp_path / 'none', **{'model.conditioning': 'none',
                                            'loss.name': 'least_squares'})
  dense_inputs = state.generator_params['Dense_0']['kernel'].shape[0]
  assert dense_inputs == config.model.latent_dim  # no label input


@pytest.mark.parametrize('field,value,message', [
    ('model.conditioning', 'cgan+none', 'cannot be combined'),
    ('model.conditioning', 'projection', 'unknown mode'),
    ('loss.penalty', 'wgan', 'loss.penalty'),
    ('loss.gp_interpolation', 'gaussian', 'loss.gp_interpolation'),
    ('loss.label_smoothing', 0.1, 'cross-entropy'),  # with the Wasserstein loss
    ('train.dtype', 'float16', 'train.dtype'),
    ('train.ema_decay', 1.0, 'train.ema_decay'),
    ('model.spectral_norm', 'generator', 'model.spectral_norm'),
])
def test_bad_loss_and_conditioning_fields_are_named(tmp_path, field, value, message):
  config = tiny_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ValueError, match=message):
    train.train_and_evaluate(config, str(tmp_path))


def test_generator_ema_follows_its_recursion_and_feeds_the_samples(tmp_path):
  """ema_t = d ema_{t-1} + (1 - d) params_t, checked across a resumed run (d = 0.5)."""
  config = tiny_config(num_steps=1, checkpoint_every=1)
  config.predictor.num_steps = 1
  config.train.ema_decay = 0.5
  first = train.train_and_evaluate(config, str(tmp_path))
  config.train.num_steps = 2
  second = train.train_and_evaluate(config, str(tmp_path))
  expected = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, first.generator_ema_params,
                          second.generator_params)
  for got, want in zip(jax.tree.leaves(second.generator_ema_params), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  assert second.sampling_variables['params'] is second.generator_ema_params
  assert not jax.tree.leaves(tiny_state_without_ema(tmp_path).generator_ema_params)


def tiny_state_without_ema(tmp_path):
  config = tiny_config(num_steps=1)
  config.predictor.num_steps = 1
  return train.train_and_evaluate(config, str(tmp_path / 'no_ema'))


def test_bfloat16_computes_in_bf16_and_keeps_float32_parameters(tmp_path):
  config = tiny_config()
  config.model.generator_features = (8, 4, 4, 1)
  generator, critic = models.build_gan(config.model, dtype=jnp.bfloat16)
  z, labels = jnp.ones((2, config.model.latent_dim)), jnp.ones((2, labels_lib.LABEL_DIM))
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  jaxpr = str(jax.make_jaxpr(lambda v: generator.apply(v, z, labels, train=False))(variables))
  assert 'bf16' in jaxpr  # the convolutions run in bfloat16
  state, metrics = run_tiny(tmp_path, **{'train.dtype': 'bfloat16'})
  dtypes = {leaf.dtype for leaf in jax.tree.leaves((state.generator_params, state.critic_params))}
  assert dtypes == {np.dtype(np.float32)}
  assert metrics['gradient_penalty'] > 0


def pilot_config(name):
  """A pilot experiment shrunk to a few steps."""
  config = importlib.import_module(f'experiments.{name}').get_config()
  config.train.update(num_steps=4, log_every=2, sample_every=2, checkpoint_every=4,
                      num_devices=1)
  return config


def test_dcgan_batchnorm_critic_on_builtin_photographs(tmp_path):
  """The DCGAN discriminator's BatchNorm statistics live in the state and move in training."""
  config = pilot_config('dcgan')
  config.data.update(num_examples=40, image_size=16)
  config.model.update(image_size=16, latent_dim=8, generator_features=(8, 4, 3),
                      critic_features=(4, 8))
  config.train.update(batch_size=8, num_epochs=0)
  state = train.train_and_evaluate(config, str(tmp_path))
  means = jax.tree.leaves(state.critic_batch_stats)
  assert means and all(float(np.abs(leaf).max()) > 0 for leaf in means)
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'critic_loss' in row][-1]
  assert 'generator_particletype' not in final  # unconditional: no label losses
  assert (tmp_path / 'samples' / 'progress.gif').exists()


def test_acgan_pilot_on_digits(tmp_path):
  config = pilot_config('acgan_digits')
  config.train.batch_size = 16
  config.model.generator_features = (8, 1)
  config.model.critic_features = (8,)
  train.train_and_evaluate(config, str(tmp_path))
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'critic_loss' in row][-1]
  assert {'critic_real_digit', 'critic_fake_digit', 'generator_acgan_digit'} <= set(final)


def test_epochs_set_the_length_and_the_per_epoch_outputs(tmp_path):
  """mixture2d with 64 points, batch 16 (80% train: 51 -> 3 steps an epoch), 2 epochs."""
  config = pilot_config('mixture2d')
  config.data.num_examples = 64
  config.train.update(batch_size=16, num_epochs=2, sample_every=100, checkpoint_every=100,
                      sample_each_epoch=True, checkpoint_each_epoch=True)
  config.model.generator_features = (8, 2)
  config.model.critic_features = (8,)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 6
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['3', '6']
  assert sorted(os.listdir(tmp_path / 'samples')) == ['progress.gif', 'step_0000003.png',
                                                       'step_0000006.png']
  rows = [row for row in logs.read_metrics(str(tmp_path)) if 'modes_covered' in row]
  assert [row['step'] for row in rows] == [3, 6]


def test_spectral_norm_estimates_the_largest_singular_value():
  """After power iterations in training mode, sigma equals numpy's largest singular value."""
  critic = mlp.Critic(hidden=(16,), spectral_norm=True)
  points = jax.random.normal(jax.random.key(0), (4, 1, 1, 2))
  variables = critic.init(jax.random.key(1), points)
  for _ in range(30):
    _, updates = critic.apply(variables, points, train=True, mutable=['batch_stats'])
    variables = {**variables, **updates}
  kernel = np.asarray(variables['params']['Dense_0']['kernel'])
  sigma = float(variables['batch_stats']['SpectralNorm_0']['Dense_0/kernel/sigma'])
  assert sigma == pytest.approx(np.linalg.svd(kernel, compute_uv=False)[0], rel=1e-4)
  assert np.linalg.svd(kernel / sigma, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-4)


def test_spectral_norm_on_both_networks_trains(tmp_path):
  state, _ = run_tiny(tmp_path, **{'model.spectral_norm': 'both'})
  assert any('SpectralNorm' in name for name in state.critic_batch_stats)
  assert any('SpectralNorm' in name for name in state.generator_batch_stats)


def test_infogan_codes_follow_their_prior():
  """4096 draws: classes uniform over 10, continuous codes uniform on [-1, 1] (mean 0, var 1/3)."""
  spec = (labels_lib.Label('code', num_classes=10), labels_lib.Label('code_continuous', size=2))
  draw = jax.pmap(lambda k: steps.draw_codes(spec, k, 4096), axis_name=steps.AXIS_NAME,
                  devices=jax.devices()[:1])
  codes = jax.tree.map(lambda x: np.asarray(x[0]), draw(jax.random.key(0)[None]))
  counts = np.bincount(codes['code'], minlength=10)
  assert counts.min() > 330 and counts.max() < 490  # expected 410, sd ~19
  continuous = codes['code_continuous']
  assert continuous.shape == (4096, 2) and np.abs(continuous).max() <= 1.0
  np.testing.assert_allclose(continuous.mean(0), 0.0, atol=0.05)
  np.testing.assert_allclose(continuous.var(0), 1 / 3, atol=0.03)


def test_infogan_on_digits_recovers_codes_through_the_critic_head(tmp_path):
  config = pilot_config('acgan_digits')
  config.train.batch_size = 16
  config.model.update(generator_features=(8, 1), critic_features=(8,), conditioning='infogan',
                      info_categorical=10, info_continuous=2)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert state.critic_params['CriticHead_0']['aux']['kernel'].shape[-1] == 12
  assert state.generator_params['ConvTranspose_0']['kernel'].shape[-1] == 32 + 12
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'critic_loss' in row][-1]
  assert {'critic_info_code', 'critic_info_code_continuous', 'generator_info_code'} <= set(final)
  assert 'critic_real_digit' not in final  # the digit labels are not used


def test_a_short_ring_run_covers_most_modes(tmp_path):
  """The mixture pilot on the 8-Gaussian ring, 1,500 iterations: fails if training is broken
  (an untrained generator puts its points on at most one mode)."""
  config = pilot_config('mixture2d')
  config.data.name = 'gaussian_ring'
  config.train.update(num_steps=1500, sample_every=1500, log_every=500, checkpoint_every=1500)
  train.train_and_evaluate(config, str(tmp_path))
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'modes_covered' in row][-1]
  assert final['step'] == 1500
  assert final['modes_covered'] >= 6 and final['high_quality_fraction'] >= 0.25, final


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


def test_alongside_predictor_is_checkpointed_and_resumes_bitwise(tmp_path):
  """2 iterations straight == 1 + resume from its checkpoint + 1; the live predictor is in the
  checkpoints (and `generate.restore_state` reads them back)."""
  config = tiny_config(checkpoint_every=1)
  config.predictor.update(num_steps=1, alongside=True)
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  shutil.copytree(tmp_path / 'straight', tmp_path / 'resumed')
  shutil.rmtree(tmp_path / 'resumed' / 'checkpoints' / '2')
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
    np.testing.assert_array_equal(x, y)
  pretrained = predictor_training.load_predictor(str(tmp_path / 'straight' / 'predictor'),
                                                 config.predictor, IMAGE_SHAPE)
  assert int(straight.predictor_opt_state[0].count) == 2 * config.train.n_critic
  assert not all(np.array_equal(x, y) for x, y in zip(
      jax.tree.leaves(straight.predictor_params), jax.tree.leaves(pretrained['params'])))
  _, restored, step = generate.restore_state(str(tmp_path / 'straight'))
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
