"""The label predictors: jaxgan's ResNet (`Predictor`, 'resnet') and CTLearn's ThinResNet
('thin_resnet', `jaxgan.models.thin_resnet`), chosen by `predictor.name` (`predictor_from_config`).

jaxgan's is a thin bottleneck ResNet with squeeze-and-excitation, after CTLearn's ThinResNet.

It predicts an image's labels, one head per label of its `label_spec` (see `jaxgan.labels`; the
telescope's by default: particle-type logits, log10 energy and the 2-d arrival direction). Layout: a
3x3 stem convolution, then stages of bottleneck residual blocks (1x1 reduce, 3x3, 1x1 expand,
squeeze-and-excitation on the residual branch, a projection shortcut where the shape changes),
stride 2 at the first block of every stage after the first, BatchNorm + ReLU after each convolution,
global average pooling, and one head per label (`thin_resnet.label_heads`): by default a hidden ReLU
layer as wide as the pooled features, then a linear output (log10 energy is no linear function of
the pooled features, which grow in proportion to the image's brightness).

`stage_widths` are the output channels of each stage's blocks; the bottleneck inside a block is
a quarter of that (`BOTTLENECK_RATIO`), as in ResNet-50 and CTLearn. Unlike CTLearn, the stem also
sees two coordinate channels (x and y in [-1, 1], `coord_channels`): after global average pooling
a plain ResNet with a small receptive field can hardly tell where the shower lies in the camera,
and the arrival direction depends on exactly that.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxgan import labels as labels_lib
from jaxgan.models import thin_resnet
from jaxgan.models.layers import Conv

Array = jax.Array

BOTTLENECK_RATIO = 4  # output channels of a block / channels of its 3x3 convolution
BATCH_NORM_MOMENTUM = 0.9  # the predictor trains for few steps: averages must follow quickly
NETWORKS = ('resnet', 'thin_resnet')  # `predictor.name`


def coordinate_channels(images: Array) -> Array:
  """(B, H, W, 2) maps of the pixel's x (column) and y (row) position, each in [-1, 1]."""
  batch, height, width, _ = images.shape
  ys, xs = jnp.meshgrid(jnp.linspace(-1.0, 1.0, height), jnp.linspace(-1.0, 1.0, width),
                        indexing='ij')
  grid = jnp.stack([xs, ys], axis=-1).astype(images.dtype)
  return jnp.broadcast_to(grid, (batch, height, width, 2))


class SqueezeExcitation(nn.Module):
  """Rescales channels by a gate computed from their spatial means (Hu et al. 2018).

  Attributes:
    ratio: channels / hidden units of the gate.
    dtype: computation dtype.
  """
  ratio: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    channels = x.shape[-1]
    gate = jnp.mean(x, axis=(1, 2))
    gate = nn.relu(nn.Dense(max(channels // self.ratio, 1), dtype=self.dtype)(gate))
    gate = nn.sigmoid(nn.Dense(channels, dtype=self.dtype)(gate))
    return x * gate[:, None, None, :]


class BottleneckBlock(nn.Module):
  """1x1 reduce, 3x3 (strided), 1x1 expand, squeeze-and-excitation, plus a shortcut.

  Attributes:
    features: output channels.
    strides: strides of the 3x3 convolution and of the projection shortcut.
    se_ratio: squeeze-and-excitation reduction ratio.
    conv_impl: `layers.Conv` implementation.
    dtype: computation dtype.
    axis_name: pmap axis over which BatchNorm averages its statistics, or None.
  """
  features: int
  strides: tuple[int, int]
  se_ratio: int
  conv_impl: str
  dtype: Any
  axis_name: str | None

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    inner = max(self.features // BOTTLENECK_RATIO, 1)
    y = self._conv_bn(x, inner, (1, 1), (1, 1), train)
    y = self._conv_bn(nn.relu(y), inner, (3, 3), self.strides, train)
    y = self._conv_bn(nn.relu(y), self.features, (1, 1), (1, 1), train,
                      scale_init=nn.initializers.zeros)  # each block starts as the identity
    y = SqueezeExcitation(self.se_ratio, self.dtype)(y)
    if x.shape[-1] != self.features or self.strides != (1, 1):
      x = self._conv_bn(x, self.features, (1, 1), self.strides, train)
    return nn.relu(x + y)

  def _conv_bn(self, x: Array, features: int, kernel: tuple[int, int], strides: tuple[int, int],
               train: bool, scale_init: Any = nn.initializers.ones) -> Array:
    x = Conv(features, kernel, strides, impl=self.conv_impl, use_bias=False, dtype=self.dtype)(x)
    return nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                        scale_init=scale_init, dtype=self.dtype, axis_name=self.axis_name)(x)


class Predictor(nn.Module):
  """Predicts the labels of `label_spec` from images (for the telescope's: `particletype` logits
  (B, 2), `energy` (B,) and `direction` (B, 2)).

  Attributes:
    stage_widths: output channels of each stage's blocks.
    blocks_per_stage: residual blocks in each stage (same length as `stage_widths`).
    se_ratio: squeeze-and-excitation reduction ratio.
    coord_channels: append x/y coordinate channels to the input (see the module docstring).
    head_widths: hidden layers of each label's head; empty: one as wide as the pooled features.
    conv_impl: 'im2col' (fast on CPU) or 'xla' (native; better on GPU/TPU).
    dtype: computation dtype (params, BatchNorm statistics and outputs stay float32).
    axis_name: pmap axis over which BatchNorm averages its statistics, or None.
    label_spec: the labels it predicts, one head each, named after the label.
  """
  stage_widths: Sequence[int] = (16, 32, 64)
  blocks_per_stage: Sequence[int] = (1, 1, 1)
  se_ratio: int = 4
  coord_channels: bool = True
  head_widths: Sequence[int] = ()
  conv_impl: str = 'im2col'
  dtype: Any = jnp.float32
  axis_name: str | None = None
  label_spec: labels_lib.LabelSpec = labels_lib.TELESCOPE

  @nn.compact
  def __call__(self, images: Array, train: bool) -> dict[str, Array]:
    """Predicts the labels of a batch of images.

    Args:
      images: (B, H, W, C), already normalised; any H and W.
      train: normalise with the batch's statistics and update the running averages (call with
        `mutable=['batch_stats']`); otherwise use the running averages.

    Returns:
      Per label, float32: (B, num_classes) logits of a categorical label, (B,) or (B, size)
      values of a continuous one (the shapes of `losses.label_losses`'s predictions).
    """
    if len(self.stage_widths) != len(self.blocks_per_stage):
      raise ValueError(f'stage_widths {tuple(self.stage_widths)} and blocks_per_stage '
                       f'{tuple(self.blocks_per_stage)} must have the same length')
    x = images.astype(self.dtype)
    if self.coord_channels:
      x = jnp.concatenate([x, coordinate_channels(x)], axis=-1)
    x = Conv(self.stage_widths[0], (3, 3), impl=self.conv_impl, use_bias=False, dtype=self.dtype)(x)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                             dtype=self.dtype, axis_name=self.axis_name)(x))
    for stage, (width, blocks) in enumerate(zip(self.stage_widths, self.blocks_per_stage)):
      for block in range(blocks):
        strides = (2, 2) if stage > 0 and block == 0 else (1, 1)
        x = BottleneckBlock(width, strides, self.se_ratio, self.conv_impl, self.dtype,
                            self.axis_name)(x, train)
    return thin_resnet.label_heads(jnp.mean(x, axis=(1, 2)), self.head_widths, self.label_spec,
                                   self.dtype)


def predictor_from_config(model_config: ml_collections.ConfigDict,
                          axis_name: str | None = None,
                          label_spec: labels_lib.LabelSpec = labels_lib.TELESCOPE
                          ) -> nn.Module:
  """Builds the predictor network `name` of a predictor config.

  Args:
    model_config: a config with the fields `stage_widths`, `blocks_per_stage`, `se_ratio` and
      `conv_impl` (e.g. `configs.predictor()`), and optionally `name` (default 'resnet'),
      `coord_channels` (default True) and `head_widths` (default ()).
    axis_name: pmap axis over which BatchNorm averages its statistics in training mode, or None.
    label_spec: the labels it predicts.

  Returns:
    The (uninitialised) `Predictor` ('resnet') or `thin_resnet.ThinResNet` ('thin_resnet').
  """
  name = model_config.get('name', 'resnet')
  if name not in NETWORKS:
    raise ValueError(f'predictor.name={name!r} is unknown; choose one of {NETWORKS}')
  shared = dict(stage_widths=tuple(model_config.stage_widths),
                blocks_per_stage=tuple(model_config.blocks_per_stage),
                se_ratio=model_config.se_ratio,
                head_widths=tuple(model_config.get('head_widths', ())),
                conv_impl=model_config.conv_impl, label_spec=tuple(label_spec))
  coord_channels = model_config.get('coord_channels', True)
  if name == 'resnet':
    return Predictor(**shared, coord_channels=coord_channels, axis_name=axis_name)
  if coord_channels:
    raise ValueError("predictor.coord_channels=True: CTLearn's thin_resnet reads the image "
                     'alone; set it False')
  return thin_resnet.ThinResNet(**shared)
