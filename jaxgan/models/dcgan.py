"""DCGAN generator and discriminator for 64x64 RGB images (SPEC part A; Radford et al. 2016).

The networks of the PyTorch DCGAN tutorial, layer for layer (nz=100, ngf=ndf=64, nc=3):

  Generator: [z, label vector] as a (B, 1, 1, C) map -> 4x4 transposed convs 512 (stride 1,
    padding 0: 1x1 -> 4x4), 256, 128, 64, 3 (stride 2, padding 1: 4 -> 8 -> 16 -> 32 -> 64), no
    bias, BatchNorm + ReLU after each but the last, tanh output.
  Discriminator: 4x4 stride-2 padding-1 convs 64, 128, 256, 512 (64 -> 32 -> 16 -> 8 -> 4), no
    bias, BatchNorm on all but the first, LeakyReLU(0.2); then the final 4x4 conv to one logit,
    which on a 4x4 map is a dense layer on the flattened map: `heads.CriticHead` without bias, so
    label projection (cGAN) and the auxiliary head (AC-GAN) work here too.

PyTorch padding p of a k x k transposed conv is padding k - 1 - p of the stride-dilated input in
`lax.conv_transpose`; with `transpose_kernel=True` a flax kernel (kh, kw, out, in) is PyTorch's
weight (in, out, kh, kw) transposed, with no spatial flip, and the outputs agree element for
element (tests/test_dcgan.py checks this against a naive scatter-add). The discriminator's
padding 1 is 'SAME' padding on its even sizes. The layers are `layers.ConvTranspose` and
`layers.Conv`, parameter-compatible with flax's `nn.ConvTranspose(transpose_kernel=True)` and
`nn.Conv`; their `conv_impl` 'auto' takes the fast CPU paths of jaxgan/models/layers.py (an
im2col kernel gradient for the transposed convs, im2col convs with a per-phase input gradient,
'im2col_phase', in the discriminator) and XLA's convolutions on GPU/TPU. BatchNorm: PyTorch's
momentum 0.1 is flax's 0.9, epsilon 1e-5. Initialisation as the tutorial's `weights_init`: conv
kernels N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0.

The number of generator layers sets the image side, 4 * 2^(layers - 1) (64 for five), so shrunk
widths also make small images (e.g. generator (128, 1) and critic (128,) for 8x8 digits).
"""

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import heads
from jaxgan.models import layers

Array = jax.Array

KERNEL_SIZE = 4
INIT_STD = 0.02
BN_MOMENTUM = 0.9  # flax's decay of the running statistics; PyTorch's momentum 0.1.
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.2

kernel_init = nn.initializers.normal(INIT_STD)


def scale_init(key: Array, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
  """BatchNorm scale ~ N(1, 0.02), as the DCGAN tutorial's `weights_init`."""
  return 1.0 + INIT_STD * jax.random.normal(key, shape, dtype)


def image_size(num_generator_layers: int) -> int:
  """Side of the generator's images: 4 after the first layer, doubled by each later one."""
  return KERNEL_SIZE * 2 ** (num_generator_layers - 1)


def _batch_norm(x: Array, train: bool, axis_name: str | None, dtype: Any) -> Array:
  """The tutorial's BatchNorm2d: batch statistics when training, running averages otherwise."""
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                      axis_name=axis_name, scale_init=scale_init, dtype=dtype)(x)


class Generator(nn.Module):
  """(latent z, label vector) -> (B, S, S, C) images in [-1, 1], S = `image_size(len(features))`.

  Attributes:
    features: output channels of the transposed convs; the last is the image's channels.
    conv_impl: `layers.ConvTranspose` implementation; 'auto' = 'im2col' on CPU (XLA's
      convolution with an im2col kernel gradient), 'xla' on GPU/TPU.
    axis_name: pmap axis for cross-device BatchNorm statistics (None outside pmap).
    spectral_norm: spectral normalisation of every layer (`layers.spectral`; not in the recipe).
    dtype: computation dtype; params, BatchNorm statistics and the output stay float32.
  """
  features: Sequence[int] = (512, 256, 128, 64, 3)
  conv_impl: str = 'auto'
  axis_name: str | None = None
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array, labels: Array, train: bool) -> Array:
    x = jnp.concatenate([z, labels], axis=-1).astype(self.dtype)[:, None, None, :]
    for index, features in enumerate(self.features):
      stride, torch_padding = (1, 0) if index == 0 else (2, 1)
      conv = layers.ConvTranspose(features, (KERNEL_SIZE, KERNEL_SIZE), strides=(stride, stride),
                                  padding=torch_padding, impl=self.conv_impl,
                                  kernel_init=kernel_init, dtype=self.dtype)
      x = layers.spectral(conv, self.spectral_norm, train)(x)
      if index < len(self.features) - 1:
        x = nn.relu(_batch_norm(x, train, self.axis_name, self.dtype))
    return jnp.tanh(x).astype(jnp.float32)


class Critic(nn.Module):
  """Discriminator: (B, S, S, C) images [+ (B, label_dim) labels] -> `heads.CriticOutput`.

  Attributes:
    features: output channels of the 4x4 stride-2 convs (BatchNorm after all but the first).
    conv_impl: `layers.Conv` implementation; 'auto' = 'im2col_phase' on CPU (fastest
      differentiated once; with a gradient penalty, `loss.penalty`, 'im2col' is faster on CPU),
      'xla' on GPU/TPU.
    label_dim: > 0 projects (B, label_dim) labels into the score (cGAN; `heads.CriticHead`).
    aux_dim: > 0 adds an auxiliary head on the same features (AC-GAN; `heads.CriticHead`).
    axis_name: pmap axis for cross-device BatchNorm statistics (None outside pmap).
    spectral_norm: spectral normalisation of every layer (`layers.spectral`; not in the recipe).
    dtype: computation dtype; params and the outputs stay float32.
  """
  features: Sequence[int] = (64, 128, 256, 512)
  conv_impl: str = 'auto'
  label_dim: int = 0
  aux_dim: int = 0
  axis_name: str | None = None
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: Array, labels: Array | None = None,
               train: bool = False) -> heads.CriticOutput:
    x = images.astype(self.dtype)
    for index, features in enumerate(self.features):
      conv = layers.Conv(features, (KERNEL_SIZE, KERNEL_SIZE), strides=(2, 2),
                         impl=layers.resolve_impl(self.conv_impl, on_cpu='im2col_phase'),
                         use_bias=False, kernel_init=kernel_init,
                         dtype=self.dtype)
      x = layers.spectral(conv, self.spectral_norm, train)(x)
      if index > 0:
        x = _batch_norm(x, train, self.axis_name, self.dtype)
      x = nn.leaky_relu(x, LEAKY_SLOPE)
    flat = x.reshape((x.shape[0], -1))
    return heads.CriticHead(self.label_dim, self.aux_dim, self.dtype, use_bias=False,
                            kernel_init=kernel_init,
                            spectral_norm=self.spectral_norm)(flat, labels, train)


def check_sizes(model_config) -> None:
  """Fails unless the generator makes model.image_size images and the critic ends on 4x4 maps."""
  size = image_size(len(model_config.generator_features))
  if size != model_config.image_size:
    raise ValueError(f'model.image_size={model_config.image_size}, but a DCGAN generator with '
                     f'{len(model_config.generator_features)} layers makes {size}x{size} images')
  final = model_config.image_size // 2 ** len(model_config.critic_features)
  if final != KERNEL_SIZE:
    raise ValueError(f'model.critic_features={tuple(model_config.critic_features)} takes '
                     f'{size}x{size} images to {final}x{final}, not the 4x4 of the final conv')


def from_config(model_config, axis_name: str | None = None, dtype: Any = jnp.float32,
                label_dim: int = 0, aux_dim: int = 0,
                label_columns: Mapping[str, tuple[int, int]] | None = None
                ) -> tuple[Generator, Critic]:
  """Builds the generator and discriminator from the `model` config fields.

  Reads model.generator_features, model.critic_features and model.image_size (checked against
  both depths). The size of z (model.latent_dim) is that of the generator's input. `axis_name`:
  the pmap axis of cross-device BatchNorm in both networks; `dtype`: their computation dtype;
  `label_dim`, `aux_dim`: the critic's label projection and auxiliary head (0: none);
  `label_columns` is unused (the networks read the label vector whole).
  """
  del label_columns
  check_sizes(model_config)
  generator = Generator(features=tuple(model_config.generator_features),
                        conv_impl=model_config.generator_conv_impl, axis_name=axis_name,
                        spectral_norm=model_config.spectral_norm == 'both', dtype=dtype)
  critic = Critic(features=tuple(model_config.critic_features),
                  conv_impl=model_config.critic_conv_impl,
                  label_dim=label_dim, aux_dim=aux_dim, axis_name=axis_name,
                  spectral_norm=model_config.spectral_norm != 'none', dtype=dtype)
  return generator, critic
