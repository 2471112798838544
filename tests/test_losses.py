"""Adversarial losses and penalties against closed forms and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


from jaxgan import labels as labels_lib
from jaxgan import losses
from jaxgan.models import ctgan


@pytest.mark.fast
def test_wasserstein_losses_closed_form():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([-2.0, 0.5])
  assert losses.wasserstein_critic(real, fake) == pytest.approx(-0.75 - 2.0)
  assert losses.wasserstein_generator(fake) == pytest.approx(0.75)


def test_unknown_loss_names_the_choices():
  with pytest.raises(ValueError, match="'wgan-typo'.*wasserstein"):
    losses.get_adversarial_loss('wgan-typo')


def test_registry_holds_every_loss_of_the_source():
  assert set(losses.ADVERSARIAL_LOSSES) == {
      'minimax', 'non_saturating', 'least_squares', 'wasserstein', 'hinge'}
  assert losses.get_adversarial_loss('wasserstein') is losses.ADVERSARIAL_LOSSES['wasserstein']


def _np_bce(logits, target):
  """Mean of -t log D - (1 - t) log(1 - D), D = sigmoid, straight from the definition."""
  d = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
  return np.mean(-target * np.log(d) - (1.0 - target) * np.log(1.0 - d))


_REAL, _FAKE = np.array([2.0, -0.5, 0.3]), np.array([-1.5, 0.7, 3.0])


@pytest.mark.parametrize('name, want_critic, want_generator', [
    ('minimax', _np_bce(_REAL, 1.0) + _np_bce(_FAKE, 0.0), -_np_bce(_FAKE, 0.0)),
    ('non_saturating', _np_bce(_REAL, 1.0) + _np_bce(_FAKE, 0.0), _np_bce(_FAKE, 1.0)),
])
def test_cross_entropy_losses_closed_form(name, want_critic, want_generator):
  loss = losses.get_adversarial_loss(name)
  assert loss.critic(jnp.array(_REAL), jnp.array(_FAKE)) == pytest.approx(want_critic, rel=1e-5)
  assert loss.generator(jnp.array(_FAKE)) == pytest.approx(want_generator, rel=1e-5)


@pytest.mark.parametrize('name', ['minimax', 'non_saturating'])
def test_cross_entropy_losses_are_finite_at_extreme_logits(name):
  """log(sigmoid(-100)) underflows to log(0) in float32; the losses must not."""
  loss = losses.get_adversarial_loss(name)
  good, bad = jnp.array([100.0]), jnp.array([-100.0])  # Critic right / wrong about a real image.
  assert loss.critic(good, bad) == pytest.approx(0.0, abs=1e-6)
  assert loss.critic(bad, good) == pytest.approx(200.0, rel=1e-6)
  for scores in (good, bad):
    assert np.isfinite(loss.generator(scores))
    grads = jax.grad(loss.critic, argnums=(0, 1))(scores, -scores)
    assert all(np.all(np.isfinite(g)) for g in grads + (jax.grad(loss.generator)(scores),))
  assert losses.minimax_generator(good) == pytest.approx(-100.0, rel=1e-6)
  assert losses.non_saturating_generator(bad) == pytest.approx(100.0, rel=1e-6)


def test_non_saturating_generator_keeps_its_gradient_when_the_critic_rejects_the_fakes():
  """At D(G(z)) = sigmoid(-10) ~ 4.5e-5: dJ/ds = -D for minimax, D - 1 for non-saturating."""
  fake = jnp.array([-10.0])
  d = 1.0 / (1.0 + np.exp(10.0))
  minimax = jax.grad(losses.minimax_generator)(fake)[0]
  non_saturating = jax.grad(losses.non_saturating_generator)(fake)[0]
  assert minimax == pytest.approx(-d, rel=1e-5)
  assert non_saturating == pytest.approx(d - 1.0, rel=1e-5)
  assert abs(non_saturating) > 1e4 * abs(minimax)


def test_label_smoothing_changes_only_the_real_term():
  plain = losses.get_adversarial_loss('non_saturating')
  smoothed = losses.get_adversarial_loss('non_saturating', label_smoothing=0.1)
  real = jnp.array(_REAL)
  want = _np_bce(_REAL, 0.9) - _np_bce(_REAL, 1.0)
  for fake in (jnp.array(_FAKE), jnp.array([-4.0, 5.0, 0.0])):
    got = smoothed.critic(real, fake) - plain.critic(real, fake)
    assert got == pytest.approx(want, rel=1e-4)
  assert smoothed.generator is plain.generator
  minimax = losses.get_adversarial_loss('minimax', label_smoothing=0.1)
  want_critic = _np_bce(_REAL, 0.9) + _np_bce(_FAKE, 0.0)
  assert minimax.critic(real, jnp.array(_FAKE)) == pytest.approx(want_critic, rel=1e-5)


def test_smoothed_generator_target_is_the_notebooks_bce_against_0_9():
  """The DCGAN notebook's criterion(D(G(z)), 0.9) = mean(-0.9 log D - 0.1 log(1 - D)); its
  gradient in the logit is (D - 0.9) / B: zero where D(G(z)) = 0.9, positive above."""
  loss = losses.get_adversarial_loss('non_saturating', 0.1, smooth_generator_target=True)
  fake = jnp.array(_FAKE)
  assert loss.generator(fake) == pytest.approx(_np_bce(_FAKE, 0.9), rel=1e-5)
  assert loss.critic(jnp.array(_REAL), fake) == pytest.approx(
      _np_bce(_REAL, 0.9) + _np_bce(_FAKE, 0.0), rel=1e-5)
  at_target = np.log(0.9 / 0.1)  # sigmoid(s) = 0.9
  grads = jax.grad(loss.generator)(jnp.array([at_target, 5.0]))
  d = 1.0 / (1.0 + np.exp(-5.0))
  np.testing.assert_allclose(grads, [0.0, (d - 0.9) / 2], atol=1e-6)


def test_smoothed_generator_target_needs_the_non_saturating_loss():
  with pytest.raises(ValueError, match="smooth_generator_target.*'minimax'"):
    losses.get_adversarial_loss('minimax', 0.1, smooth_generator_target=True)
  unsmoothed = losses.get_adversarial_loss('non_saturating', smooth_generator_target=True)
  assert unsmoothed.generator(jnp.array(_FAKE)) == pytest.approx(_np_bce(_FAKE, 1.0), rel=1e-5)


@pytest.mark.parametrize('name', ['least_squares', 'wasserstein', 'hinge'])
def test_label_smoothing_on_a_loss_without_labels_names_the_loss(name):
  with pytest.raises(ValueError, match=f'label_smoothing.*{name!r}'):
    losses.get_adversarial_loss(name, label_smoothing=0.1)


def test_label_smoothing_out_of_range_is_refused():
  with pytest.raises(ValueError, match=r'\[0, 1\)'):
    losses.get_adversarial_loss('minimax', label_smoothing=1.0)


def test_least_squares_losses_closed_form():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([0.0, -2.0])
  assert losses.least_squares_critic(real, fake) == pytest.approx(0.5 * 2.0 + 0.5 * 2.0)
  assert losses.least_squares_generator(fake) == pytest.approx(0.5 * (1.0 + 9.0) / 2)
  assert losses.least_squares_critic(jnp.ones(2), jnp.zeros(2)) == 0.0  # At b = 1, a = 0.
  assert losses.least_squares_generator(jnp.ones(2)) == 0.0  # At c = 1.


def test_hinge_losses_closed_form():
  assert losses.hinge_critic(jnp.array([1.0, 2.5]), jnp.array([-1.0, -3.0])) == 0.0
  real, fake = jnp.array([0.5, 2.0]), jnp.array([0.0, -2.0])
  assert losses.hinge_critic(real, fake) == pytest.approx((0.5 + 0.0) / 2 + (1.0 + 0.0) / 2)
  hinge = losses.get_adversarial_loss('hinge')
  assert hinge.generator(fake) == pytest.approx(1.0)


@pytest.mark.fast
def test_label_losses_closed_form():
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0]])
  predictions = {'particletype': logits, 'energy': jnp.array([1.0, 2.0]),
                 'direction': jnp.array([[0.0, 1.0], [1.0, 1.0]])}
  labels = {'particletype': jnp.array([0, 0]), 'energy': jnp.array([0.0, 0.0]),
            'direction': jnp.zeros((2, 2))}
  got = losses.label_losses(predictions, labels, labels_lib.TELESCOPE)
  want_ce = np.mean([np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(1.0))])
  assert got['particletype'] == pytest.approx(want_ce, rel=1e-5)
  assert got['energy'] == pytest.approx(2.5)
  assert got['direction'] == pytest.approx(0.75)


def test_label_vector_and_predictions_follow_any_spec():
  """A spec mixing a 3-class label and a 2-vector: one-hot then values, read back the same way."""
  spec = (labels_lib.Label('kind', num_classes=3), labels_lib.Label('shift', size=2))
  labels = {'kind': np.array([2, 0]), 'shift': np.array([[0.5, -1.0], [2.0, 3.0]])}
  vector = np.asarray(labels_lib.label_vector(labels, spec))
  np.testing.assert_array_equal(vector, [[0, 0, 1, 0.5, -1.0], [1, 0, 0, 2.0, 3.0]])
  read = labels_lib.predictions_from_vector(vector, spec)
  np.testing.assert_array_equal(read['kind'], vector[:, :3])
  np.testing.assert_array_equal(read['shift'], labels['shift'])
  got = losses.label_losses({'kind': jnp.log(jnp.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])),
                             'shift': read['shift'] + 1.0}, labels, spec)
  assert got['kind'] == pytest.approx(-(np.log(0.5) + np.log(0.6)) / 2, rel=1e-5)
  assert got['shift'] == pytest.approx(1.0)


def test_gradient_penalty_quadratic_critic_closed_form():
  """D(x) = sum(w * x^2): grad = 2 w x, so the penalty is known exactly."""
  w = jnp.array([[[[0.5]], [[2.0]]]])  # (1, 2, 1, 1)
  critic = lambda x: jnp.sum(w * x ** 2, axis=(1, 2, 3))
  real = jnp.array([[[[1.0]], [[0.0]]], [[[2.0]], [[1.0]]]])  # (2, 2, 1, 1)
  fake = jnp.zeros_like(real)
  eps = jnp.array([0.5, 0.25])
  xhat = np.array([0.5, 0.75])[:, None] * np.array([[1.0, 0.0], [2.0, 1.0]])
  norms = np.linalg.norm(2 * np.array([0.5, 2.0]) * xhat, axis=1)
  want = np.mean((norms - 1) ** 2)
  assert losses.gradient_penalty(critic, real, fake, eps) == pytest.approx(want, rel=1e-5)


def _finite_difference_input_grad_norms(critic_fn, x, step=1e-5):
  flat = np.asarray(x).reshape(x.shape[0], -1)
  grads = np.zeros_like(flat)
  for j in range(flat.shape[1]):
    delta = np.zeros_like(flat)
    delta[:, j] = step
    up = critic_fn(jnp.asarray((flat + delta).reshape(x.shape)))
    down = critic_fn(jnp.asarray((flat - delta).reshape(x.shape)))
    grads[:, j] = (np.asarray(up) - np.asarray(down)) / (2 * step)
  return np.linalg.norm(grads, axis=1)


def _float64_conv_critic(key, images):
  """A small float64 `ctgan.Critic`: its params and (params, images) -> (B,) scores.

  Call inside `jax.enable_x64(True)`.
  """
  critic = ctgan.Critic(block_features=(2, 3), conv_impl='im2col', dtype=jnp.float64)
  params = jax.tree.map(lambda p: p.astype(jnp.float64), critic.init(key, images)['params'])
  return params, lambda p, x: critic.apply({'params': p}, x.astype(jnp.float64)).scores


def test_gradient_penalty_matches_finite_differences_on_a_conv_critic():
  with jax.enable_x64(True):
    key_r, key_f, key_p = jax.random.split(jax.random.key(0), 3)
    real = jax.random.normal(key_r, (2, 6, 6, 1), jnp.float64)
    fake = jax.random.normal(key_f, (2, 6, 6, 1), jnp.float64)
    params, apply_fn = _float64_conv_critic(key_p, real)
    critic_fn = lambda x: apply_fn(params, x)
    eps = jnp.array([0.3, 0.8])
    norms = _finite_difference_input_grad_norms(critic_fn, losses.interpolate(real, fake, eps))
    want = np.mean((norms - 1.0) ** 2)
    got = losses.gradient_penalty(critic_fn, real, fake, eps)
    assert got == pytest.approx(want, rel=1e-6)


def test_gradient_penalty_parameter_gradient_matches_finite_differences():
  """The double backward through the critic, checked along a random parameter direction."""
  with jax.enable_x64(True):
    keys = jax.random.split(jax.random.key(1), 4)
    real = jax.random.normal(keys[0], (2, 6, 6, 1), jnp.float64)
    fake = jax.random.normal(keys[1], (2, 6, 6, 1), jnp.float64)
    params, apply_fn = _float64_conv_critic(keys[2], real)
    eps = jnp.array([0.6, 0.1])

    def penalty(p):
      return losses.gradient_penalty(lambda x: apply_fn(p, x), real, fake, eps)

    leaves, treedef = jax.tree.flatten(params)
    direction = jax.tree.unflatten(treedef, [
        jax.random.normal(k, leaf.shape, jnp.float64)
        for k, leaf in zip(jax.random.split(keys[3], len(leaves)), leaves)])
    step = 1e-6
    shifted = lambda s: jax.tree.map(lambda p, d: p + s * d, params, direction)
    numeric = (penalty(shifted(step)) - penalty(shifted(-step))) / (2 * step)
    analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(jax.grad(penalty)(params)),
                                                   jax.tree.leaves(direction)))
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-5)


def _linear_critic(w):
  """D(x) = <w, x> per example: grad_x D = w everywhere."""
  return lambda x: jnp.sum(w * x, axis=(1, 2, 3))


@pytest.mark.parametrize('scale', [1.0, 1e-6])
def test_r1_penalty_linear_critic_closed_form(scale):
  """||w||^2 exactly, also where ||w||^2 = 4.5e-12 is close to the norms' 1e-12 stabiliser."""
  w = scale * jnp.array([[[[1.0], [0.5]], [[-1.5], [1.0]]]])  # (1, 2, 2, 1)
  real = jax.random.normal(jax.random.key(2), (3, 2, 2, 1))
  want = float(np.sum(np.square(np.asarray(w, np.float64))))
  assert losses.r1_penalty(_linear_critic(w), real) == pytest.approx(want, rel=1e-5)


def test_r1_penalty_matches_finite_differences_on_a_conv_critic():
  with jax.enable_x64(True):
    key_r, key_p = jax.random.split(jax.random.key(3))
    real = jax.random.normal(key_r, (2, 6, 6, 1), jnp.float64)
    params, apply_fn = _float64_conv_critic(key_p, real)
    critic_fn = lambda x: apply_fn(params, x)
    want = np.mean(_finite_difference_input_grad_norms(critic_fn, real) ** 2)
    assert losses.r1_penalty(critic_fn, real) == pytest.approx(want, rel=1e-6)


def test_dragan_penalty_linear_critic_closed_form():
  """(||w|| - 1)^2 wherever the critic's gradient is taken."""
  w = jnp.array([[[[1.0], [0.5]], [[-1.5], [1.0]]]])  # (1, 2, 2, 1)
  keys = jax.random.split(jax.random.key(4))
  real = jax.random.normal(keys[0], (3, 2, 2, 1))
  perturbation = losses.dragan_perturbation(real, jax.random.uniform(keys[1], real.shape))
  want = (np.linalg.norm(np.asarray(w)) - 1.0) ** 2
  got = losses.dragan_penalty(_linear_critic(w), real, perturbation)
  assert got == pytest.approx(want, rel=1e-5)


def test_dragan_penalty_is_taken_at_the_perturbed_images():
  """D(x) = sum(x^2) / 2 has grad x: the penalty reads the norms of x + delta."""
  critic = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
  real = jnp.array([[[[1.0]], [[0.0]]], [[[0.0]], [[0.0]]]])  # (2, 2, 1, 1)
  perturbation = jnp.array([[[[1.0]], [[1.0]]], [[[0.5]], [[0.0]]]])
  want = np.mean((np.array([np.sqrt(5.0), 0.5]) - 1.0) ** 2)
  assert losses.dragan_penalty(critic, real, perturbation) == pytest.approx(want, rel=1e-5)


def test_dragan_perturbation_closed_form():
  real = jnp.array([[[[1.0]], [[3.0]]], [[[-1.0]], [[5.0]]]])
  noise = jnp.array([[[[0.0]], [[1.0]]], [[[0.5]], [[0.25]]]])
  want = 0.5 * np.std(np.asarray(real)) * np.asarray(noise)
  np.testing.assert_allclose(losses.dragan_perturbation(real, noise), want, rtol=1e-6)


def test_clip_weights_clips_every_leaf():
  params = {'dense': {'kernel': jnp.array([[-2.0, 0.005], [0.5, 0.01]])}, 'bias': jnp.array(-0.3)}
  clipped = losses.clip_weights(params, 0.01)
  assert jax.tree.structure(clipped) == jax.tree.structure(params)
  np.testing.assert_allclose(clipped['dense']['kernel'], [[-0.01, 0.005], [0.01, 0.01]])
  assert clipped['bias'] == pytest.approx(-0.01)
