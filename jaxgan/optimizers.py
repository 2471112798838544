"""Adam as optax computes it, and as Keras (TensorFlow 2) does, the sources' framework.

Both keep the same moments, m <- b1 m + (1 - b1) g and v <- b2 v + (1 - b2) g^2, and step
-lr m_hat / (sqrt(v_hat) + eps) with the bias corrections m_hat = m / (1 - b1^t) and
v_hat = v / (1 - b2^t). They differ in where eps goes: optax adds it to sqrt(v_hat), Keras to
sqrt(v), before the correction ("epsilon hat" in Kingma & Ba, the formula before section 2.1;
TensorFlow's ResourceApplyAdam): -lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps), that is,
optax's step with eps / sqrt(1 - b2^t) in place of eps.
"""

import jax
import jax.numpy as jnp
import optax


def scale_by_keras_adam(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
  """Adam's direction sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps), as Keras computes it.

  Its state is optax's `ScaleByAdamState`, so checkpoints have the same structure as with
  `optax.scale_by_adam`.
  """

  def init(params):
    return optax.scale_by_adam(b1, b2).init(params)

  def update(updates, state, params=None):
    del params
    mu = optax.tree.update_moment(updates, state.mu, b1, 1)
    nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count = optax.safe_increment(state.count)
    t = count.astype(jnp.float32)
    correction = jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    updates = jax.tree.map(lambda m, v: correction * m / (jnp.sqrt(v) + eps), mu, nu)
    return updates, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init, update)


def adam(learning_rate: float, b1: float, b2: float, eps: float,
         eps_hat: bool = False) -> optax.GradientTransformation:
  """Adam with eps added after the bias correction (optax), or before it (`eps_hat`: Keras)."""
  if eps_hat:
    return optax.chain(scale_by_keras_adam(b1, b2, eps),
                       optax.scale_by_learning_rate(learning_rate))
  return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)
