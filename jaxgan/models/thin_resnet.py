"""CTLearn's ThinResNet, the network of the source's predictor and of its evaluation networks.

The source builds its predictors with CTLearn 0.6.0 (sgh14/CTGANs `predictor.py`, configured by
`config_files/predictor-*.yml:28-71`: the `single_cnn` backbone, the `resnet_engine` network and
the `standard_head`). This is that network, read from ctlearn 0.6.0 (`ctlearn/default_models/`):

- no stem: the image enters the first stage as it is (`single_cnn.py:27-35` adds a first
  convolution or pooling only when the config names one; the source's does not);
- stages of bottleneck residual blocks (`resnet_engine.py:4-48`): block k of a stage is a 1x1
  convolution to the stage's filters, a 3x3 one, both with ReLU, a linear 1x1 one to 4x the
  filters (`EXPANSION`), dual squeeze-and-excitation, the shortcut added, ReLU
  (`resnet_engine.py:112-129`); `stage_widths` are the blocks' outputs (CTLearn's filters x 4);
- the first block of every stage projects its shortcut with a 1x1 convolution
  (`resnet_engine.py:44`, `:106-108`), the others add their input; the first block of every stage
  but the first has stride 2, on its first 1x1 convolution and on that shortcut
  (`resnet_engine.py:20-22`, `:25`, `:112`);
- dual squeeze-and-excitation (`attention.py:3-51`): the channel gate (global mean, Dense of
  channels / ratio units with ReLU, Dense of the channels with sigmoid) and the spatial gate (a 1x1
  convolution to one channel with sigmoid) each rescale the input, and the two are summed;
- no BatchNorm (the config's `batchnorm` fields are read by CTLearn's `basic` models only, never by
  `resnet_engine`); every convolution and Dense has a bias; kernels are Keras's default
  glorot-uniform, biases zero;
- global average pooling (`single_cnn.py:39`), then one head per label (`head.py:13-45`): Dense
  layers with ReLU of `head_widths` units ([512, 256] in the source's config) and a linear output
  (`basic.py:55-74`); the particle type's softmax is left to the loss (`losses.cross_entropy`).
"""

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import labels as labels_lib
from jaxgan.models.layers import Conv

Array = jax.Array

EXPANSION = 4  # a block's output channels / its bottleneck's (CTLearn's `4*filters`)
KERNEL_INIT = nn.initializers.glorot_uniform()  # Keras's default, CTLearn's kernels


def label_heads(features: Array, hidden_widths: Sequence[int], label_spec: labels_lib.LabelSpec,
                dtype: Any, kernel_init: Callable[..., Array] = nn.linear.default_kernel_init
                ) -> dict[str, Array]:
  """One head per label on (B, F) pooled features, inside the calling module's `nn.compact`.

  A head is Dense layers with ReLU of `hidden_widths` units (empty: one of F units), named
  `<label>_hidden`, `<label>_hidden_2`, ..., then a linear output named after the label.

  Returns:
    Per label, float32: (B, num_classes) logits of a categorical label, (B,) or (B, size) values
    of a continuous one.
  """
  widths = tuple(hidden_widths) or (features.shape[-1],)

  def head(label: labels_lib.Label) -> Array:
    x = features
    for index, width in enumerate(widths):
      name = f'{label.name}_hidden' + (f'_{index + 1}' if index else '')
      x = nn.relu(nn.Dense(width, dtype=dtype, kernel_init=kernel_init, name=name)(x))
    out = nn.Dense(label.width, dtype=dtype, kernel_init=kernel_init, name=label.name)(x)
    out = out.astype(jnp.float32)
    return out[:, 0] if label.scalar else out

  return {label.name: head(label) for label in label_spec}


class DualSqueezeExcitation(nn.Module):
  """The channel gate's rescaling of the input plus the spatial gate's (Roy et al. 2018).

  Attributes:
    ratio: channels / hidden units of the channel gate.
    conv_impl: `layers.Conv` implementation of the spatial gate.
    dtype: computation dtype.
  """
  ratio: int
  conv_impl: str
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    channels = x.shape[-1]
    if channels < self.ratio:
      raise ValueError(f'{channels} channels give no hidden unit at squeeze-and-excitation '
                       f'ratio {self.ratio}')
    gate = jnp.mean(x, axis=(1, 2))
    gate = nn.relu(nn.Dense(channels // self.ratio, dtype=self.dtype, kernel_init=KERNEL_INIT,
                            name='channel_squeeze')(gate))
    gate = nn.sigmoid(nn.Dense(channels, dtype=self.dtype, kernel_init=KERNEL_INIT,
                               name='channel_excite')(gate))
    spatial = nn.sigmoid(Conv(1, (1, 1), impl=self.conv_impl, kernel_init=KERNEL_INIT,
                              dtype=self.dtype, name='spatial')(x))
    return x * gate[:, None, None, :] + x * spatial


class ThinResNetBlock(nn.Module):
  """CTLearn's bottleneck residual block with dual squeeze-and-excitation.

  Attributes:
    features: output channels (EXPANSION x the bottleneck's).
    strides: strides of the first 1x1 convolution and of the projected shortcut.
    project: project the shortcut with a 1x1 convolution (the first block of a stage).
    se_ratio: squeeze-and-excitation reduction ratio.
    conv_impl: `layers.Conv` implementation.
    dtype: computation dtype.
  """
  features: int
  strides: tuple[int, int]
  project: bool
  se_ratio: int
  conv_impl: str
  dtype: Any

  @nn.compact
  def __call__(self, x: Array) -> Array:
    shortcut = x
    if self.project:
      shortcut = self._conv('shortcut', self.features, (1, 1), self.strides)(x)
    inner = self.features // EXPANSION
    y = nn.relu(self._conv('reduce', inner, (1, 1), self.strides)(x))
    y = nn.relu(self._conv('conv', inner, (3, 3), (1, 1))(y))
    y = self._conv('expand', self.features, (1, 1), (1, 1))(y)
    y = DualSqueezeExcitation(self.se_ratio, self.conv_impl, self.dtype, name='attention')(y)
    return nn.relu(shortcut + y)

  def _conv(self, name: str, features: int, kernel: tuple[int, int],
            strides: tuple[int, int]) -> Conv:
    return Conv(features, kernel, strides, impl=self.conv_impl, kernel_init=KERNEL_INIT,
                dtype=self.dtype, name=name)


class ThinResNet(nn.Module):
  """Predicts the labels of `label_spec` from images, as `predictor.Predictor` does.

  The defaults are the source's configuration of CTLearn's ThinResNet (`configs.THIN_RESNET`).

  Attributes:
    stage_widths: output channels of each stage's blocks (CTLearn's filters x EXPANSION).
    blocks_per_stage: residual blocks in each stage.
    se_ratio: squeeze-and-excitation reduction ratio.
    head_widths: hidden layers of each label's head (`label_heads`).
    conv_impl: 'im2col' (fast on CPU) or 'xla' (native; better on GPU/TPU).
    dtype: computation dtype (params and outputs stay float32).
    label_spec: the labels it predicts, one head each, named after the label.
  """
  stage_widths: Sequence[int] = (192, 384, 512, 1024)
  blocks_per_stage: Sequence[int] = (2, 3, 3, 3)
  se_ratio: int = 16
  head_widths: Sequence[int] = (512, 256)
  conv_impl: str = 'im2col'
  dtype: Any = jnp.float32
  label_spec: labels_lib.LabelSpec = labels_lib.TELESCOPE

  @nn.compact
  def __call__(self, images: Array, train: bool) -> dict[str, Array]:
    """Predicts the labels of (B, H, W, C) normalised images; `train` changes nothing (no layer of
    the network acts differently in training), it is there for the predictors' common call."""
    del train
    if len(self.stage_widths) != len(self.blocks_per_stage):
      raise ValueError(f'stage_widths {tuple(self.stage_widths)} and blocks_per_stage '
                       f'{tuple(self.blocks_per_stage)} must have the same length')
    x = images.astype(self.dtype)
    for stage, (width, blocks) in enumerate(zip(self.stage_widths, self.blocks_per_stage)):
      for block in range(blocks):
        strides = (2, 2) if stage > 0 and block == 0 else (1, 1)
        x = ThinResNetBlock(width, strides, block == 0, self.se_ratio, self.conv_impl,
                            self.dtype)(x)
    return label_heads(jnp.mean(x, axis=(1, 2)), self.head_widths, self.label_spec, self.dtype,
                       KERNEL_INIT)
