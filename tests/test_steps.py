"""The training step's pluggable parts: penalties, weight clipping, conditioning modes, losses
(the pilot experiments end to end: tests/test_pilots.py; the predictor trained alongside the
critic: tests/test_alongside.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan import losses
from jaxgan import models
from jaxgan import steps
from jaxgan import train
from jaxgan.models import mlp
from tests.helpers import saved_tiny_predictor
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


@pytest.fixture(scope='module')
def predictor_dir(tmp_path_factory):
  """The predictor that each tiny run with predictor conditioning would train for itself,
  trained and saved once for the module."""
  return saved_tiny_predictor(str(tmp_path_factory.mktemp('predictor')))


def run_tiny(tmp_path, predictor=None, **overrides):
  """One tiny training run of 2 iterations with `overrides` ('section.field': value), using the
  saved `predictor` directory if given (else training its own when its conditioning needs one)."""
  config = tiny_config()
  config.predictor.num_steps = 1
  if predictor:
    config.predictor.checkpoint = predictor
  for dotted, value in overrides.items():
    section, field = dotted.split('.')
    config[section][field] = value
  state = train.train_and_evaluate(config, str(tmp_path))
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'critic_loss' in row][-1]
  assert all(np.isfinite(v) for v in final.values()), final
  return state, final


@pytest.fixture(scope='module')
def clipped_run(tmp_path_factory, predictor_dir):
  """(state, final metrics) of a tiny run with weight clipping and no penalty (and no EMA)."""
  return run_tiny(tmp_path_factory.mktemp('clipped'), predictor_dir,
                  **{'loss.penalty': 'none', 'loss.clip': 0.01})


def test_weight_clipping_bounds_every_critic_parameter(clipped_run):
  state, metrics = clipped_run
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


def test_cgan_projects_labels_and_unconditional_drops_them(tmp_path, predictor_dir):
  state, metrics = run_tiny(tmp_path / 'cgan', predictor_dir, **{
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


def test_generator_ema_follows_its_recursion_and_feeds_the_samples(tmp_path, predictor_dir,
                                                                    clipped_run):
  """ema_t = d ema_{t-1} + (1 - d) params_t, checked across a resumed run (d = 0.5); a run
  without `train.ema_decay` (the clipped one) keeps no EMA."""
  config = tiny_config(num_steps=1, checkpoint_every=1)
  config.predictor.update(num_steps=1, checkpoint=predictor_dir)
  config.train.ema_decay = 0.5
  first = train.train_and_evaluate(config, str(tmp_path))
  config.train.num_steps = 2
  second = train.train_and_evaluate(config, str(tmp_path))
  expected = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, first.generator_ema_params,
                          second.generator_params)
  for got, want in zip(jax.tree.leaves(second.generator_ema_params), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  assert second.sampling_variables['params'] is second.generator_ema_params
  assert second.sampling_variables['batch_stats'] is second.generator_ema_batch_stats
  assert not jax.tree.leaves(clipped_run[0].generator_ema_params)


def test_the_ema_generator_normalises_with_statistics_of_its_own_parameters():
  """With BatchNorm momentum 0 the EMA statistics are those of one training-mode pass of the EMA
  parameters, so in evaluation mode they give back that pass's images; the live statistics
  (of other parameters) do not."""
  config = tiny_config(ema_decay=0.5)
  config.model.batchnorm_momentum = 0.0
  cfg = assembly.build_step_config(config, None)
  state = assembly.initial_state(config, (43, 43, 1))
  state = state.replace(generator_ema_params=jax.tree.map(lambda p: 1.5 * p + 0.1,
                                                          state.generator_params))
  label_vector = jax.random.uniform(jax.random.key(1), (1, 16, labels_lib.LABEL_DIM))
  key = jax.random.key(2)

  def images(state, label_vector, train):
    ema = state.replace(generator_params=state.generator_ema_params,
                        generator_batch_stats=state.generator_ema_batch_stats)
    return steps.make_fakes(cfg, ema, label_vector, key, train=train).images

  @functools.partial(jax.pmap, axis_name=steps.AXIS_NAME, devices=jax.devices()[:1])
  def passes(state, label_vector):
    updated = steps.ema_statistics_update(cfg, state, label_vector, key)
    return (images(state, label_vector, True), images(updated, label_vector, False),
            images(state, label_vector, False))

  trained, own, live = passes(steps.replicate(state, jax.devices()[:1]), label_vector)
  np.testing.assert_allclose(own, trained, atol=1e-4)
  assert np.abs(live - trained).max() > 0.1


def test_bfloat16_computes_in_bf16_and_keeps_float32_parameters(tmp_path, predictor_dir):
  config = tiny_config()
  config.model.generator_features = (8, 4, 4, 1)
  generator, critic = models.build_gan(config.model, dtype=jnp.bfloat16)
  z, labels = jnp.ones((2, config.model.latent_dim)), jnp.ones((2, labels_lib.LABEL_DIM))
  variables = generator.init(jax.random.key(0), z, labels, train=False)
  jaxpr = str(jax.make_jaxpr(lambda v: generator.apply(v, z, labels, train=False))(variables))
  assert 'bf16' in jaxpr  # the convolutions run in bfloat16
  state, metrics = run_tiny(tmp_path, predictor_dir, **{'train.dtype': 'bfloat16'})
  dtypes = {leaf.dtype for leaf in jax.tree.leaves((state.generator_params, state.critic_params))}
  assert dtypes == {np.dtype(np.float32)}
  assert metrics['gradient_penalty'] > 0


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


def test_spectral_norm_on_both_networks_trains(tmp_path, predictor_dir):
  state, _ = run_tiny(tmp_path, predictor_dir, **{'model.spectral_norm': 'both'})
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
