"""Fully connected generator and critic for low-dimensional data (the 2-D mixture pilot).

Examples are shaped (B, 1, 1, C) like one-pixel images, so that they pass through everything
written for images; these networks flatten them to (B, C) and back. Generator: [z, labels] ->
Dense + ReLU blocks -> Dense(C). Critic: Dense + LeakyReLU(0.2) blocks -> `heads.CriticHead`
(score, optional label projection and auxiliary head). No BatchNorm, so every loss and penalty
applies; spectral normalisation of every layer is optional.
"""

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import heads
from jaxgan.models import layers

Array = jax.Array


class Generator(nn.Module):
  """(latent z, label vector) -> (B, 1, 1, channels) points.

  Attributes:
    hidden: widths of the hidden layers.
    channels: components of a point (2 for the plane).
    spectral_norm: spectral normalisation of every layer (`layers.spectral`).
    dtype: computation dtype; params and the output stay float32.
  """
  hidden: Sequence[int] = (128, 128, 128)
  channels: int = 2
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array, labels: Array, train: bool) -> Array:
    dense = lambda width: layers.spectral(nn.Dense(width, dtype=self.dtype), self.spectral_norm,
                                          train)
    x = jnp.concatenate([z, labels], axis=-1).astype(self.dtype)
    for width in self.hidden:
      x = nn.relu(dense(width)(x))
    points = dense(self.channels)(x)
    return points.reshape((-1, 1, 1, self.channels)).astype(jnp.float32)


class Critic(nn.Module):
  """(B, 1, 1, C) points [+ (B, label_dim) labels] -> `heads.CriticOutput`.

  Attributes:
    hidden: widths of the hidden layers.
    label_dim, aux_dim: the label projection and auxiliary head (`heads.CriticHead`; 0: none).
    spectral_norm: spectral normalisation of every layer (`layers.spectral`).
    dtype: computation dtype; params and the outputs stay float32.
  """
  hidden: Sequence[int] = (128, 128, 128)
  label_dim: int = 0
  aux_dim: int = 0
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, points: Array, labels: Array | None = None,
               train: bool = False) -> heads.CriticOutput:
    x = points.reshape((points.shape[0], -1)).astype(self.dtype)
    for width in self.hidden:
      layer = layers.spectral(nn.Dense(width, dtype=self.dtype), self.spectral_norm, train)
      x = nn.leaky_relu(layer(x), 0.2)
    return heads.CriticHead(self.label_dim, self.aux_dim, dtype=self.dtype,
                            spectral_norm=self.spectral_norm)(x, labels, train)


def from_config(model_config, axis_name: str | None = None, dtype: Any = jnp.float32,
                label_dim: int = 0, aux_dim: int = 0,
                label_columns: Mapping[str, tuple[int, int]] | None = None
                ) -> tuple[Generator, Critic]:
  """Generator and critic from model.generator_features (hidden widths, then the point's
  channels), model.critic_features (hidden widths); `axis_name` is unused (no BatchNorm), and
  `label_columns` too (the networks read the label vector whole)."""
  del axis_name, label_columns
  *hidden, channels = model_config.generator_features
  return (Generator(hidden=tuple(hidden), channels=channels,
                    spectral_norm=model_config.spectral_norm == 'both', dtype=dtype),
          Critic(hidden=tuple(model_config.critic_features), label_dim=label_dim,
                 aux_dim=aux_dim, spectral_norm=model_config.spectral_norm != 'none',
                 dtype=dtype))
