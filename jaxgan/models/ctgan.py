"""CTGAN generator and critic for 43x43 single-telescope images (SPEC part B).

Generator: [z, label vector] -> dense -> (3, 3, C0) -> upsample blocks doubling the size
(3 -> 6 -> 12 -> 24 -> 48) -> crop 48x48 to 43x43. Each block but the last is a 2x nearest
upsampling (or, with `upsample='transposed'`, a stride-2 transposed convolution) + 3x3 conv +
BatchNorm + LeakyReLU(0.2); the last block's conv is linear by default (images are in
normalised physical units, not bounded). Critic: zero-pad 43 -> 48, 5x5 stride-2 conv blocks
with LeakyReLU(0.2) (optional dropout), flatten, dense 1, linear output; no BatchNorm, since the
gradient penalty needs a critic that treats each example on its own.

The source's code (sgh14/CTGANs, generator.py and discriminator.py with
config_files/GANs-gamma.yml) differs from those defaults in options that the `model` config
sets for experiments/ctgan_paper.py: a bias-free dense layer followed by BatchNorm and
LeakyReLU (`dense_norm`), a last block with LeakyReLU and no bias (`last_block`), Keras'
BatchNorm constants, orthogonal kernels (`kernel_init`) and dropout after some critic blocks
and before its dense layer.
"""

import math
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import heads
from jaxgan.models import layers
from jaxgan.models import source_frame

Array = jax.Array
Initializer = Callable[..., Array]

PADDED_SIZE = 48  # 43 padded to the next size that 4 stride-2 blocks take down to 3x3.
UPSAMPLE_MODES = ('nearest', 'transposed')
# the critic views that read the source from the labels
SOURCE_VIEWS = ('polar', 'aligned', 'aligned_distance', 'aligned_source')
SOURCE_LABEL = 'direction'  # the label holding the source's camera (x, y)
CRITIC_VIEWS = ('camera', *SOURCE_VIEWS)
LAST_BLOCKS = ('linear', 'leaky_relu')  # `model.generator_last_block`
# `model.init`: Flax's default, and Keras' Orthogonal (gain 1; QR of a Gaussian matrix, sign-fixed).
KERNEL_INITS = {'lecun_normal': nn.initializers.lecun_normal(),
                'orthogonal': nn.initializers.orthogonal()}
# The fields that only the `Generator` reads, with their default values.
GENERATOR_FIELDS = {'generator_dense_norm': False, 'generator_last_block': 'linear',
                    'batchnorm_momentum': 0.9, 'batchnorm_epsilon': 1e-5}


def crop_center(images: Array, size: int) -> Array:
  """Crops (B, S, S, C) images to (B, size, size, C): the border that `pad_center` adds."""
  low = (images.shape[1] - size) // 2
  return images[:, low:low + size, low:low + size, :]


def pad_center(images: Array, size: int) -> Array:
  """Zero-pads (B, s, s, C) images to (B, size, size, C), the inverse of `crop_center`."""
  low = (size - images.shape[1]) // 2
  high = size - images.shape[1] - low
  return jnp.pad(images, ((0, 0), (low, high), (low, high), (0, 0)))


def split_pixel_noise(z: Array, side: int) -> tuple[Array, Array]:
  """(latent vector, (B, side, side, 1) noise map): z's last side^2 entries are the map."""
  if z.shape[-1] <= side * side:
    raise ValueError(f'model.generator_pixel_noise needs model.latent_dim > {side * side} '
                     f'(the {side}x{side} noise map plus the latent vector), got {z.shape[-1]}')
  return z[:, :-side * side], z[:, -side * side:].reshape(-1, side, side, 1)


def soft_bound(x: Array, bound: float) -> Array:
  """bound * tanh(x / bound): x where |x| << bound, never beyond +-bound (0: x unchanged)."""
  return bound * jnp.tanh(x / bound) if bound else x


def upsample_nearest(x: Array) -> Array:
  """2x nearest-neighbour upsampling of NHWC images."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class Generator(nn.Module):
  """Conditional generator: (latent z, label vector) -> (B, image_size, image_size, channels).

  Attributes:
    base_shape: (h, w, c) of the dense layer's output, e.g. (3, 3, 512).
    block_features: output channels of the upsample blocks; the last is the image's channels.
    image_size: side of the output images (the 48x48 canvas is centre-cropped to it).
    upsample: 'nearest' (2x nearest + 3x3 conv) or 'transposed' (3x3 stride-2 transposed conv).
    conv_impl: `layers.Conv` implementation of the 3x3 convolutions ('xla' is fastest on CPU too:
      the generator needs no double backward).
    axis_name: pmap axis for cross-device BatchNorm statistics (None outside pmap).
    spectral_norm: spectral normalisation of every layer (`layers.spectral`).
    dtype: computation dtype; params, BatchNorm statistics and the output stay float32.
    output_features: > 0: the last block's conv gives this many channels, followed by BatchNorm
      + LeakyReLU and a 3x3 conv to the image, so that the last nonlinearity works at the output
      resolution (else it is at half of it, and the image a linear map of upsampled features).
    pixel_noise: the last S*S entries of z (S the canvas side) are a per-pixel noise map, added
      to the output of the last block's conv times a learned per-channel scale (zero at first;
      StyleGAN's noise inputs): pixel-level noise need not come through the dense layer.
    dense_norm: the dense layer has no bias and is followed by BatchNorm and LeakyReLU(0.2)
      before the reshape (else it has a bias and is reshaped as it is).
    last_block: the conv that draws the image: 'linear' (with a bias) or 'leaky_relu' (no bias,
      then LeakyReLU(0.2)).
    kernel_init: initialiser of every kernel.
    batchnorm_momentum, batchnorm_epsilon: `nn.BatchNorm`'s momentum and epsilon.
    output_bound: > 0: the image passes `soft_bound` (network units), so that no pixel lies
      beyond it (0: unbounded).
  """
  base_shape: Sequence[int] = (3, 3, 512)
  block_features: Sequence[int] = (256, 128, 64, 1)
  image_size: int = 43
  upsample: str = 'nearest'
  conv_impl: str = 'xla'
  axis_name: str | None = None
  spectral_norm: bool = False
  dtype: Any = jnp.float32
  output_features: int = 0
  pixel_noise: bool = False
  dense_norm: bool = False
  last_block: str = 'linear'
  kernel_init: Initializer = KERNEL_INITS['lecun_normal']
  batchnorm_momentum: float = 0.9
  batchnorm_epsilon: float = 1e-5
  output_bound: float = 0.0

  @nn.compact
  def __call__(self, z: Array, labels: Array, train: bool) -> Array:
    if self.upsample not in UPSAMPLE_MODES:
      raise ValueError(f'model.upsample={self.upsample!r}; choose one of {UPSAMPLE_MODES}')
    if self.last_block not in LAST_BLOCKS:
      raise ValueError(f'model.generator_last_block={self.last_block!r}; choose one of '
                       f'{LAST_BLOCKS}')
    if self.pixel_noise:
      z, noise = split_pixel_noise(z, self.base_shape[0] * 2 ** len(self.block_features))
    x = self._dense(jnp.concatenate([z, labels], axis=-1).astype(self.dtype), train)
    x = x.reshape((x.shape[0], *self.base_shape))
    num_blocks = len(self.block_features)
    for index, features in enumerate(self.block_features):
      final = index == num_blocks - 1
      image = final and not self.output_features  # this block's conv draws the image
      if final and self.output_features:
        features = self.output_features
      # BatchNorm cancels a bias
      x = self._upsample_conv(x, features, use_bias=image and self.last_block == 'linear',
                              train=train)
      if final and self.pixel_noise:
        scale = self.param('noise_scale', nn.initializers.zeros, (features,))
        x = x + noise.astype(x.dtype) * scale
      x = self._last_activation(x) if image else self._norm_activation(x, train)
    if self.output_features:
      conv = layers.Conv(self.block_features[-1], (3, 3), impl=self.conv_impl,
                         use_bias=self.last_block == 'linear', kernel_init=self.kernel_init,
                         dtype=self.dtype)
      x = self._last_activation(layers.spectral(conv, self.spectral_norm, train)(x))
    return crop_center(soft_bound(x, self.output_bound), self.image_size).astype(jnp.float32)

  def _dense(self, x: Array, train: bool) -> Array:
    """The dense layer to the base shape's units (`dense_norm`: then BatchNorm and LeakyReLU)."""
    dense = nn.Dense(math.prod(self.base_shape), use_bias=not self.dense_norm,
                     kernel_init=self.kernel_init, dtype=self.dtype)
    x = layers.spectral(dense, self.spectral_norm, train)(x)
    return self._norm_activation(x, train) if self.dense_norm else x

  def _norm_activation(self, x: Array, train: bool) -> Array:
    """BatchNorm (over the last axis) then LeakyReLU(0.2)."""
    x = nn.BatchNorm(use_running_average=not train, momentum=self.batchnorm_momentum,
                     epsilon=self.batchnorm_epsilon, axis_name=self.axis_name,
                     dtype=self.dtype)(x)
    return nn.leaky_relu(x, 0.2)

  def _last_activation(self, x: Array) -> Array:
    """The activation of the conv that draws the image (`last_block`)."""
    return x if self.last_block == 'linear' else nn.leaky_relu(x, 0.2)

  def _upsample_conv(self, x: Array, features: int, use_bias: bool, train: bool) -> Array:
    if self.upsample == 'transposed':
      conv = nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding='SAME', use_bias=use_bias,
                              kernel_init=self.kernel_init, dtype=self.dtype)
    else:
      conv = layers.Conv(features, (3, 3), impl=self.conv_impl, use_bias=use_bias,
                         kernel_init=self.kernel_init, dtype=self.dtype)
      x = upsample_nearest(x)
    return layers.spectral(conv, self.spectral_norm, train)(x)


class Critic(nn.Module):
  """Critic: (B, image_size, image_size, C) images [+ (B, label_dim) labels] -> CriticOutput.

  Attributes:
    block_features: output channels of the 5x5 stride-2 conv blocks.
    dropout_rates: dropout after each block, one rate per block (0: none); () = none at all.
      Dropout masks are drawn per device, so with dropout a run is reproducible but not
      independent of the device count.
    head_dropout: dropout on the flattened features, before `heads.CriticHead`.
    kernel_init: initialiser of every kernel.
    conv_impl: `layers.Conv` implementation; 'auto' = 'im2col' on CPU (fast gradient penalty),
      'xla' on GPU/TPU.
    label_dim: > 0 projects (B, label_dim) labels into the score (cGAN; `heads.CriticHead`).
    aux_dim: > 0 adds an auxiliary head on the same features (AC-GAN; `heads.CriticHead`).
    spectral_norm: spectral normalisation of every layer (`layers.spectral`).
    dtype: computation dtype; params and the outputs stay float32.
    view: 'camera' (the padded image), 'polar' (the image resampled about the labelled source,
      `source_frame.polar_view`), 'aligned' (about its light centroid, turned away from the
      labelled source, `source_frame.aligned_view`) or 'aligned_distance' (that view and a
      channel of the centroid's distance from the source, `source_frame.centroid_distance`) or
      'aligned_source' (the aligned view anchored at the source); all but 'camera' need the
      labels and `direction_columns`.
    pixel_size: the polar and aligned views' camera pixel size, in the direction label's units.
    polar_grid: the polar view's (angle bins, one-pixel radius bins).
    centroid_threshold: the aligned view's light threshold (network units).
    direction_columns: (start, stop) of the source's (x, y) in the label vector (the columns of
      `SOURCE_LABEL`); None where the critic reads no source.
  """
  block_features: Sequence[int] = (128, 256, 512, 1024)
  dropout_rates: Sequence[float] = ()
  head_dropout: float = 0.0
  kernel_init: Initializer = KERNEL_INITS['lecun_normal']
  conv_impl: str = 'auto'
  label_dim: int = 0
  aux_dim: int = 0
  spectral_norm: bool = False
  dtype: Any = jnp.float32
  view: str = 'camera'
  pixel_size: float = 0.1
  polar_grid: tuple[int, int] = source_frame.POLAR_GRID
  centroid_threshold: float = 2.0
  direction_columns: tuple[int, int] | None = None

  @nn.compact
  def __call__(self, images: Array, labels: Array | None = None,
               train: bool = False) -> heads.CriticOutput:
    x = pad_center(images.astype(self.dtype), PADDED_SIZE)
    if self.view not in CRITIC_VIEWS:
      raise ValueError(f'model.critic_view={self.view!r}; choose one of {CRITIC_VIEWS}')
    if self.view in SOURCE_VIEWS:
      if labels is None or self.direction_columns is None:
        raise ValueError(f"the critic's {self.view} view needs the labels and the source's "
                         f'direction_columns in them, got {self.direction_columns}')
      source = labels[:, self.direction_columns[0]:self.direction_columns[1]]
      x = self._source_view(x, source, images.shape[1])
    if self.dropout_rates and len(self.dropout_rates) != len(self.block_features):
      raise ValueError(f'model.critic_block_dropout={tuple(self.dropout_rates)} needs one rate '
                       f'per critic block, {len(self.block_features)}')
    rates = tuple(self.dropout_rates) or (0.0,) * len(self.block_features)
    for features, rate in zip(self.block_features, rates):
      conv = layers.Conv(features, (5, 5), strides=(2, 2), impl=self.conv_impl,
                         kernel_init=self.kernel_init, dtype=self.dtype)
      x = layers.spectral(conv, self.spectral_norm, train)(x)
      x = self._dropout(nn.leaky_relu(x, 0.2), rate, train)
    features = self._dropout(x.reshape((x.shape[0], -1)), self.head_dropout, train)
    return heads.CriticHead(self.label_dim, self.aux_dim, self.dtype,
                            kernel_init=self.kernel_init,
                            spectral_norm=self.spectral_norm)(features, labels, train)

  def _source_view(self, canvas: Array, source: Array, image_size: int) -> Array:
    """The padded images `canvas` in the polar or an aligned view about `source`; for
    'aligned_distance' with the centroid's distance from the source as a second channel."""
    if self.view == 'polar':
      return source_frame.polar_view(canvas, source, self.pixel_size, image_size,
                                     self.polar_grid)
    behind = source_frame.SOURCE_ANCHOR_BEHIND if self.view == 'aligned_source' else None
    view = source_frame.aligned_view(canvas, source, self.pixel_size, image_size,
                                     self.centroid_threshold, behind)
    if self.view != 'aligned_distance':
      return view
    distance = source_frame.centroid_distance(canvas, source, self.pixel_size, image_size,
                                              self.centroid_threshold)
    return jnp.concatenate([view, jnp.broadcast_to(distance[:, None, None, None],
                                                   (*view.shape[:3], 1))], axis=-1)

  def _dropout(self, x: Array, rate: float, train: bool) -> Array:
    """Dropout at `rate` in training (none at rate 0)."""
    return nn.Dropout(rate, deterministic=not train)(x) if rate > 0 else x


def from_config(model_config, axis_name: str | None = None, dtype: Any = jnp.float32,
                label_dim: int = 0, aux_dim: int = 0,
                label_columns: Mapping[str, tuple[int, int]] | None = None
                ) -> tuple[Generator, Critic]:
  """Builds the generator and critic from the `model` config fields (see experiments/ctgan.py);
  `label_dim`, `aux_dim`: the critic's label projection and auxiliary head (0: none);
  `label_columns`: (start, stop) of each label in the label vector (`labels.vector_columns`)."""
  if model_config.generator_noise_head:
    raise ValueError(f'model.generator_noise_head={model_config.generator_noise_head}: only '
                     "model.name='ctgan_frame' has a noise head; leave it at 0")
  generator = Generator(base_shape=tuple(model_config.generator_base_shape),
                        block_features=tuple(model_config.generator_features),
                        image_size=model_config.image_size, upsample=model_config.upsample,
                        conv_impl=model_config.generator_conv_impl, axis_name=axis_name,
                        spectral_norm=model_config.spectral_norm == 'both', dtype=dtype,
                        output_features=model_config.generator_output_features,
                        pixel_noise=model_config.generator_pixel_noise,
                        dense_norm=model_config.generator_dense_norm,
                        last_block=model_config.generator_last_block,
                        kernel_init=kernel_init(model_config.init),
                        batchnorm_momentum=model_config.batchnorm_momentum,
                        batchnorm_epsilon=model_config.batchnorm_epsilon,
                        output_bound=model_config.generator_output_bound)
  return generator, critic_from_config(model_config, dtype, label_dim, aux_dim, label_columns)


def kernel_init(name: str) -> Initializer:
  """The kernel initialiser `model.init` names."""
  if name not in KERNEL_INITS:
    raise ValueError(f'model.init={name!r}; choose one of {tuple(KERNEL_INITS)}')
  return KERNEL_INITS[name]


def critic_dropout_rates(model_config) -> tuple[float, ...]:
  """The critic's dropout rate after each block: `model.critic_block_dropout`, or else
  `model.critic_dropout` after every block."""
  return (tuple(model_config.critic_block_dropout)
          or (model_config.critic_dropout,) * len(model_config.critic_features))


def critic_from_config(model_config, dtype: Any = jnp.float32, label_dim: int = 0,
                       aux_dim: int = 0,
                       label_columns: Mapping[str, tuple[int, int]] | None = None) -> Critic:
  """The critic of `from_config` (also the critic of `jaxgan.models.ctgan_frame`)."""
  label_columns = label_columns or {}
  if model_config.critic_view in SOURCE_VIEWS and not (label_dim and SOURCE_LABEL in label_columns):
    raise ValueError(f'model.critic_view={model_config.critic_view!r} reads the source from '
                     f'the {SOURCE_LABEL!r} label, which reaches the critic only with \'cgan\' in '
                     'model.conditioning and a dataset that has it '
                     f'(its label size: {label_dim}, labels: {sorted(label_columns)})')
  return Critic(block_features=tuple(model_config.critic_features),
                dropout_rates=critic_dropout_rates(model_config),
                head_dropout=model_config.critic_head_dropout,
                kernel_init=kernel_init(model_config.init),
                conv_impl=model_config.critic_conv_impl,
                label_dim=label_dim, aux_dim=aux_dim,
                spectral_norm=model_config.spectral_norm != 'none', dtype=dtype,
                view=model_config.critic_view, pixel_size=model_config.camera_pixel_size,
                polar_grid=tuple(model_config.polar_grid),
                centroid_threshold=model_config.centroid_threshold,
                direction_columns=label_columns.get(SOURCE_LABEL))
