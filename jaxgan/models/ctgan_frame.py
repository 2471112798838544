"""The CTGAN with a generator that draws each shower in its own frame (`model.name='ctgan_frame'`).

A gamma-ray shower's axis points back to its source. A convolutional generator on camera pixels
must turn every image to a label-dependent angle, and its easiest thin streaks are the pixel
grid's rows and columns. This generator draws on a canvas anchored at the labelled
source instead, u pointing away from the source along an azimuth drawn uniformly from two entries
of z, v across it; `source_frame.frame_to_camera` turns and shifts that canvas onto the camera,
so a streak along u points back to the source whatever the azimuth, and the azimuths of the
showers are uniform around the source, as in the data (the impact point's azimuth is uniform).
The source position enters only there, not the dense layer: the image of (z, particle type,
energy) moves with the source (tested). The camera's own stage then adds the per-pixel noise
map and the last nonlinearity (as `model.generator_pixel_noise` and
`model.generator_output_features` do in the ctgan generator).

z: [azimuth (2), latent vector, noise map (48 x 48) if model.generator_pixel_noise]. Frame
canvas: `generator_base_shape` (rows, columns, channels) doubled by each of the
`generator_features` blocks: (3, 6) and three blocks give 24 x 48 pixels, 2.4 degrees across the
axis and from 1 degree behind the source to 3.7 degrees ahead of it (0.1-degree pixels). The
critic is the ctgan critic (`model.critic_view='aligned'`, the default run's).
"""

import math
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import ctgan
from jaxgan.models import layers
from jaxgan.models import source_frame

Array = jax.Array

AZIMUTH_ENTRIES = 2  # z's first entries: a normal 2-vector whose direction is the azimuth


class FrameGenerator(nn.Module):
  """(z, label vector) -> (B, image_size, image_size, 1) images drawn in the shower's frame.

  Attributes:
    base_shape: (rows, columns, channels) of the dense layer's output on the frame canvas.
    block_features: channels of the frame's upsample blocks (2x nearest + 3x3 conv + BatchNorm
      + LeakyReLU 0.2 each).
    output_features: channels of the camera stage's 3x3 conv (then noise, BatchNorm, LeakyReLU,
      and a 3x3 conv to the image).
    image_size: side of the output images (the 48x48 camera canvas is centre-cropped to it).
    pixel_size: camera pixel size in the direction label's units.
    direction_columns: (start, stop) of the source's (x, y) in the label vector (the columns of
      `ctgan.SOURCE_LABEL`).
    pixel_noise: z's last 48 x 48 entries are a per-pixel noise map added in the camera stage
      times a learned per-channel scale (zero at first).
    noise_head: > 0 (with `pixel_noise`): the noise map enters a per-pixel head of this width at
      the end instead: the camera stage, a 3x3 conv to `output_features` and LeakyReLU, then
      [those features, noise] -> 1x1 conv -> LeakyReLU -> 1x1 conv to the image. A camera's
      noise is independent from pixel to pixel given the light (night-sky photons, readout);
      noise that passes a 3x3 conv is not.
    output_bound, conv_impl, axis_name, dtype: as `ctgan.Generator`'s.
  """
  base_shape: Sequence[int] = (3, 6, 64)
  block_features: Sequence[int] = (64, 32, 16)
  output_features: int = 16
  image_size: int = 43
  pixel_size: float = 0.1
  direction_columns: tuple[int, int] | None = None
  pixel_noise: bool = True
  noise_head: int = 0
  output_bound: float = 0.0
  conv_impl: str = 'xla'
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: Array, labels: Array, train: bool) -> Array:
    if self.noise_head and not self.pixel_noise:
      raise ValueError('model.generator_noise_head needs model.generator_pixel_noise (its noise '
                       'map)')
    if self.direction_columns is None or labels.shape[-1] < self.direction_columns[1]:
      raise ValueError(f'the frame generator reads the source from labels columns '
                       f'{self.direction_columns}, got {labels.shape[-1]} label columns')
    side = ctgan.PADDED_SIZE
    if self.pixel_noise:
      z, noise = ctgan.split_pixel_noise(z, side)
    azimuth, z = z[:, :AZIMUTH_ENTRIES], z[:, AZIMUTH_ENTRIES:]
    azimuth = azimuth / jnp.maximum(jnp.linalg.norm(azimuth, axis=-1, keepdims=True), 1e-6)
    start, stop = self.direction_columns
    source, other_labels = labels[:, start:stop], jnp.concatenate(
        [labels[:, :start], labels[:, stop:]], axis=-1)
    x = jnp.concatenate([z, other_labels], axis=-1).astype(self.dtype)  # where: placement only
    x = nn.Dense(math.prod(self.base_shape), dtype=self.dtype)(x)
    x = x.reshape((x.shape[0], *self.base_shape))
    for features in self.block_features:
      x = self._conv_norm(ctgan.upsample_nearest(x), features, train)
    x = source_frame.frame_to_camera(x, source, azimuth.astype(x.dtype), self.pixel_size,
                                     self.image_size, side)
    if self.noise_head:
      x = self._noise_head(self._conv_norm(x, self.output_features, train), noise)
    else:
      noise_scale = None
      if self.pixel_noise:
        noise_scale = self.param('noise_scale', nn.initializers.zeros, (self.output_features,))
        noise_scale = noise.astype(self.dtype) * noise_scale
      x = self._conv_norm(x, self.output_features, train, added=noise_scale)
      x = layers.Conv(1, (3, 3), impl=self.conv_impl, dtype=self.dtype)(x)
    x = ctgan.soft_bound(x, self.output_bound)
    return ctgan.crop_center(x, self.image_size).astype(jnp.float32)

  def _noise_head(self, x: Array, noise: Array) -> Array:
    """Features -> 3x3 conv, LeakyReLU; with the noise map, two 1x1 convs to the image."""
    x = layers.Conv(self.output_features, (3, 3), impl=self.conv_impl, dtype=self.dtype)(x)
    x = jnp.concatenate([nn.leaky_relu(x, 0.2), noise.astype(self.dtype)], axis=-1)
    x = nn.leaky_relu(nn.Dense(self.noise_head, dtype=self.dtype)(x), 0.2)
    return nn.Dense(1, dtype=self.dtype)(x)

  def _conv_norm(self, x: Array, features: int, train: bool, added: Array | None = None) -> Array:
    """3x3 conv (no bias: BatchNorm cancels it) [+ `added`], BatchNorm, LeakyReLU 0.2."""
    x = layers.Conv(features, (3, 3), impl=self.conv_impl, use_bias=False, dtype=self.dtype)(x)
    if added is not None:
      x = x + added
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, axis_name=self.axis_name,
                     dtype=self.dtype)(x)
    return nn.leaky_relu(x, 0.2)


def from_config(model_config, axis_name: str | None = None, dtype: Any = jnp.float32,
                label_dim: int = 0, aux_dim: int = 0,
                label_columns: Mapping[str, tuple[int, int]] | None = None
                ) -> tuple[FrameGenerator, ctgan.Critic]:
  """The frame generator and the ctgan critic from the `model` config fields
  (experiments/ctgan.py); the arguments as `ctgan.from_config`'s."""
  label_columns = label_columns or {}
  if not model_config.generator_output_features:
    raise ValueError("model.name='ctgan_frame' needs model.generator_output_features > 0 "
                     '(the width of its camera stage)')
  if model_config.upsample != 'nearest' or model_config.spectral_norm == 'both':
    raise ValueError("model.name='ctgan_frame' takes model.upsample='nearest' and "
                     "model.spectral_norm 'none' or 'critic' only (its generator has no others)")
  for field, default in {**ctgan.GENERATOR_FIELDS, 'init': 'lecun_normal'}.items():
    if model_config[field] != default:
      raise ValueError(f"model.{field}={model_config[field]!r}: the generator of "
                       f"model.name='ctgan_frame' does not read it; leave it at {default!r}")
  if ctgan.SOURCE_LABEL not in label_columns:
    raise ValueError(f"model.name='ctgan_frame' places each shower at its source, the "
                     f'{ctgan.SOURCE_LABEL!r} label, which the generator is not given '
                     f'(its labels: {sorted(label_columns)})')
  generator = FrameGenerator(base_shape=tuple(model_config.generator_base_shape),
                             block_features=tuple(model_config.generator_features),
                             output_features=model_config.generator_output_features,
                             image_size=model_config.image_size,
                             pixel_size=model_config.camera_pixel_size,
                             direction_columns=label_columns[ctgan.SOURCE_LABEL],
                             pixel_noise=model_config.generator_pixel_noise,
                             noise_head=model_config.generator_noise_head,
                             output_bound=model_config.generator_output_bound,
                             conv_impl=model_config.generator_conv_impl, axis_name=axis_name,
                             dtype=dtype)
  return generator, ctgan.critic_from_config(model_config, dtype, label_dim, aux_dim,
                                             label_columns)
