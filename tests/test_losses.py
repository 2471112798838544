"""Losses and the gradient penalty against closed forms and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


from jaxgan import losses
from jaxgan.models import ctgan


def test_wasserstein_losses_closed_form():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([-2.0, 0.5])
  assert losses.wasserstein_critic(real, fake) == pytest.approx(-0.75 - 2.0)
  assert losses.wasserstein_generator(fake) == pytest.approx(0.75)


def test_unknown_loss_names_the_choices():
  with pytest.raises(ValueError, match="'wgan-typo'.*wasserstein"):
    losses.get_adversarial_loss('wgan-typo')


def test_label_losses_closed_form():
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0]])
  predictions = {'particletype': logits, 'energy': jnp.array([1.0, 2.0]),
                 'direction': jnp.array([[0.0, 1.0], [1.0, 1.0]])}
  labels = {'particletype': jnp.array([0, 0]), 'energy': jnp.array([0.0, 0.0]),
            'direction': jnp.zeros((2, 2))}
  got = losses.label_losses(predictions, labels)
  want_ce = np.mean([np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(1.0))])
  assert got['particletype'] == pytest.approx(want_ce, rel=1e-5)
  assert got['energy'] == pytest.approx(2.5)
  assert got['direction'] == pytest.approx(0.75)


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


def test_gradient_penalty_matches_finite_differences_on_a_conv_critic():
  with jax.enable_x64(True):
    critic = ctgan.Critic(block_features=(2, 3), conv_impl='im2col', dtype=jnp.float64)
    key_r, key_f, key_p = jax.random.split(jax.random.key(0), 3)
    real = jax.random.normal(key_r, (2, 6, 6, 1), jnp.float64)
    fake = jax.random.normal(key_f, (2, 6, 6, 1), jnp.float64)
    params = jax.tree.map(lambda p: p.astype(jnp.float64),
                          critic.init(key_p, real)['params'])
    critic_fn = lambda x: critic.apply({'params': params}, x.astype(jnp.float64))
    eps = jnp.array([0.3, 0.8])
    norms = _finite_difference_input_grad_norms(critic_fn, losses.interpolate(real, fake, eps))
    want = np.mean((norms - 1.0) ** 2)
    got = losses.gradient_penalty(critic_fn, real, fake, eps)
    assert got == pytest.approx(want, rel=1e-6)


def test_gradient_penalty_parameter_gradient_matches_finite_differences():
  """The double backward through the critic, checked along a random parameter direction."""
  with jax.enable_x64(True):
    critic = ctgan.Critic(block_features=(2, 3), conv_impl='im2col', dtype=jnp.float64)
    keys = jax.random.split(jax.random.key(1), 4)
    real = jax.random.normal(keys[0], (2, 6, 6, 1), jnp.float64)
    fake = jax.random.normal(keys[1], (2, 6, 6, 1), jnp.float64)
    params = jax.tree.map(lambda p: p.astype(jnp.float64), critic.init(keys[2], real)['params'])
    eps = jnp.array([0.6, 0.1])

    def penalty(p):
      return losses.gradient_penalty(lambda x: critic.apply({'params': p}, x), real, fake, eps)

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
