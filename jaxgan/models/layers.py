"""Layers shared by the models: a convolution with a fast im2col path, optional spectral norm.

Why im2col: XLA's CPU backend runs the double backward of strided convolutions (which the gradient
penalty needs) about 30x slower than their forward. Written as strided slices of the padded input
concatenated along channels followed by one matmul, the same convolution differentiates twice
through slices and a dot only, which XLA handles ~9x faster on CPU. On GPU/TPU the native
convolution (`impl='xla'`) is the better choice; `impl='auto'` picks im2col on CPU and xla
elsewhere. Stride-1 convolutions without a double backward (the generator's) are faster with
'xla' on CPU too. Both paths share parameter names and shapes with
`flax.linen.Conv` ('kernel' HWIO, 'bias'), so checkpoints move between them.
"""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
Initializer = Callable[..., Array]

CONV_IMPLS = ('auto', 'im2col', 'xla')


def resolve_impl(impl: str) -> str:
  """'auto' -> 'im2col' on CPU, 'xla' on GPU/TPU; other values are checked and returned."""
  if impl not in CONV_IMPLS:
    raise ValueError(f'conv impl {impl!r} is unknown; choose one of {CONV_IMPLS}')
  if impl == 'auto':
    return 'im2col' if jax.default_backend() == 'cpu' else 'xla'
  return impl


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow/Flax 'SAME' padding (low, high) of one spatial dimension."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def im2col_conv(x: Array, kernel: Array, strides: Sequence[int]) -> Array:
  """'SAME' NHWC convolution as concatenated strided slices and one matmul.

  Args:
    x: (B, H, W, Cin) input.
    kernel: (kh, kw, Cin, Cout) kernel.
    strides: (sh, sw).

  Returns:
    (B, ceil(H / sh), ceil(W / sw), Cout), equal to `lax.conv_general_dilated` with 'SAME' padding.
  """
  kh, kw, cin, cout = kernel.shape
  sh, sw = strides
  _, height, width, _ = x.shape
  pad_h, pad_w = same_padding(height, kh, sh), same_padding(width, kw, sw)
  x = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
  out_h, out_w = -(-height // sh), -(-width // sw)
  patches = [
      lax.slice(x, (0, i, j, 0), (x.shape[0], i + sh * (out_h - 1) + 1,
                                  j + sw * (out_w - 1) + 1, cin), (1, sh, sw, 1))
      for i in range(kh) for j in range(kw)
  ]
  columns = jnp.concatenate(patches, axis=-1)  # channel index = (i * kw + j) * cin + c
  return columns @ kernel.reshape(kh * kw * cin, cout)


def xla_conv(x: Array, kernel: Array, strides: Sequence[int]) -> Array:
  """'SAME' NHWC convolution by XLA's native convolution."""
  return lax.conv_general_dilated(x, kernel, tuple(strides), 'SAME',
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


class Conv(nn.Module):
  """'SAME'-padded 2-D convolution, parameter-compatible with `flax.linen.Conv`.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    impl: 'im2col' (fast double backward on CPU), 'xla' (native convolution) or 'auto'.
    use_bias: add a learnt bias.
    kernel_init: initialiser of the (kh, kw, Cin, Cout) kernel.
    dtype: computation dtype (params stay float32).
  """
  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  impl: str = 'auto'
  use_bias: bool = True
  kernel_init: Initializer = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    shape = (*self.kernel_size, x.shape[-1], self.features)
    kernel = self.param('kernel', self.kernel_init, shape, jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    conv = im2col_conv if resolve_impl(self.impl) == 'im2col' else xla_conv
    y = conv(x, kernel, self.strides)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,), jnp.float32).astype(
          self.dtype)
    return y


def spectral(layer: nn.Module, enabled: bool, train: bool) -> Callable[[Array], Array]:
  """`layer`, or `layer` with spectral normalisation of its weights when `enabled`.

  Spectral normalisation (Miyato et al. 2018) divides each weight matrix (a kernel reshaped to
  (fan_in, fan_out)) by its largest singular value, estimated by one power iteration per call;
  the iteration's vector and estimate live in the 'batch_stats' collection and advance only in
  training. The layer's parameters keep their names, so the flag does not rename them.
  """
  if not enabled:
    return layer
  return functools.partial(nn.SpectralNorm(layer), update_stats=train)
