"""The critic's output layer, shared by every architecture: score, label projection, aux head.

Every critic ends in `CriticHead` on its flattened features h, so conditioning methods
(`jaxgan.conditioning`) work with any architecture:

  score = w.h + b                 always
        + (V y).h                 label_dim > 0: projection of the label vector y (cGAN,
                                  Miyato & Koyama 2018)
  aux   = U h + c                 aux_dim > 0: auxiliary head (AC-GAN label predictions)
"""

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers

Array = jax.Array


class CriticOutput(NamedTuple):
  """What a critic returns for a batch of B images.

  Attributes:
    scores: (B,) unbounded realism scores (logits for the cross-entropy losses).
    aux: (B, aux_dim) outputs of the auxiliary head, or None when the critic has none.
  """
  scores: Array
  aux: Array | None


class CriticHead(nn.Module):
  """(B, F) features [+ (B, label_dim) labels] -> `CriticOutput`, float32 at least.

  Attributes:
    label_dim: size of the projected label vector; 0 = unconditional score.
    aux_dim: outputs of the auxiliary head; 0 = no head.
    dtype: computation dtype.
    use_bias: whether the score has its bias b (False for the DCGAN's bias-free final conv).
    kernel_init: initialiser of the score, projection and aux kernels.
    spectral_norm: spectral normalisation of the three (`layers.spectral`).
  """
  label_dim: int = 0
  aux_dim: int = 0
  dtype: Any = jnp.float32
  use_bias: bool = True
  kernel_init: Callable[..., Array] = nn.linear.default_kernel_init
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, features: Array, labels: Array | None, train: bool = False) -> CriticOutput:
    dense = lambda layer: layers.spectral(layer, self.spectral_norm, train)
    scores = dense(nn.Dense(1, use_bias=self.use_bias, dtype=self.dtype,
                            kernel_init=self.kernel_init, name='score'))(features)[:, 0]
    if self.label_dim:
      if labels is None or labels.shape != (features.shape[0], self.label_dim):
        raise ValueError(f'this projection critic needs ({features.shape[0]}, {self.label_dim}) '
                         f'labels, got {None if labels is None else labels.shape}')
      embedded = dense(nn.Dense(features.shape[-1], use_bias=False, dtype=self.dtype,
                                kernel_init=self.kernel_init,
                                name='label_projection'))(labels.astype(self.dtype))
      scores = scores + jnp.sum(embedded * features, axis=-1)
    aux = None
    if self.aux_dim:
      aux = dense(nn.Dense(self.aux_dim, dtype=self.dtype, kernel_init=self.kernel_init,
                           name='aux'))(features)
    output_dtype = jnp.promote_types(self.dtype, jnp.float32)
    return CriticOutput(scores.astype(output_dtype),
                        None if aux is None else aux.astype(output_dtype))
