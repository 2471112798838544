"""Layers shared by the models: convolutions with fast CPU paths, optional spectral norm.

Why im2col: XLA's CPU backend runs the double backward of strided convolutions (which the gradient
penalty needs) about 30x slower than their forward. Written as strided slices of the padded input
concatenated along channels followed by one matmul, the same convolution differentiates twice
through slices and a dot only, which XLA handles ~9x faster on CPU. On GPU/TPU the native
convolution (`impl='xla'`) is the better choice; `impl='auto'` picks im2col on CPU and xla
elsewhere. Stride-1 convolutions without a double backward (the CTGAN generator's) are faster with
'xla' on CPU too.

Transposed convolutions (`ConvTranspose`, PyTorch's ConvTranspose2d, the DCGAN generator's): XLA's
CPU backend runs their forward and input gradient fast but their kernel gradient very slowly (4x4
stride 2, 16x16x128 -> 32x32x64 at batch 32: 2.3 s against 0.09 s for the forward). With
`impl='im2col'` XLA keeps the forward and the input gradient (a strided convolution), and the
kernel gradient is im2col patches of the output gradient against the input, one matmul
(`im2col_grad_conv_transpose`, a `jax.custom_vjp`): the DCGAN generator's forward and backward
run 8x faster on CPU. A sub-pixel form (each of the 4 output phases a 2x2 convolution by slices
and matmuls) measured 1.7x slower than this on the DCGAN's layers.

Both paths of each layer share parameter names and shapes with `flax.linen.Conv` ('kernel' HWIO,
'bias') and `flax.linen.ConvTranspose(transpose_kernel=True)` ('kernel' (kh, kw, out, in)), so
checkpoints move between them and from the flax layers.
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
DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')  # layouts of input, kernel and output


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


def im2col(x: Array, kernel_size: Sequence[int], strides: Sequence[int],
           padding: Sequence[tuple[int, int]]) -> Array:
  """Patches of a NHWC input as channels: strided slices of the padded input, concatenated.

  Args:
    x: (B, H, W, C) input.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: ((low, high), (low, high)) zeros added to the height and width.

  Returns:
    (B, out_h, out_w, kh * kw * C), channel index (i * kw + j) * C + c for tap (i, j), where
    out = (padded size - kernel) // stride + 1.
  """
  (kh, kw), (sh, sw) = kernel_size, strides
  x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  batch, height, width, channels = x.shape
  out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
  patches = [
      lax.slice(x, (0, i, j, 0), (batch, i + sh * (out_h - 1) + 1, j + sw * (out_w - 1) + 1,
                                  channels), (1, sh, sw, 1))
      for i in range(kh) for j in range(kw)
  ]
  return jnp.concatenate(patches, axis=-1)


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
  padding = [same_padding(size, k, s) for size, k, s in zip(x.shape[1:3], (kh, kw), strides)]
  return im2col(x, (kh, kw), strides, padding) @ kernel.reshape(kh * kw * cin, cout)


def xla_conv(x: Array, kernel: Array, strides: Sequence[int]) -> Array:
  """'SAME' NHWC convolution by XLA's native convolution."""
  return lax.conv_general_dilated(x, kernel, tuple(strides), 'SAME', dimension_numbers=DIMENSIONS)


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


def xla_conv_transpose(x: Array, kernel: Array, strides: Sequence[int], padding: int) -> Array:
  """PyTorch's ConvTranspose2d(stride=strides, padding=padding) of a NHWC input by XLA.

  Args:
    x: (B, H, W, Cin) input.
    kernel: (kh, kw, Cout, Cin), the layout of `flax.linen.ConvTranspose(transpose_kernel=True)`:
      PyTorch's weight (Cin, Cout, kh, kw) transposed, without a spatial flip.
    strides: (sh, sw).
    padding: PyTorch's padding p, cut from each border of the full output.

  Returns:
    (B, (H - 1) * sh - 2p + kh, (W - 1) * sw - 2p + kw, Cout).
  """
  pads = [(size - 1 - padding, size - 1 - padding) for size in kernel.shape[:2]]
  return lax.conv_transpose(x, kernel, tuple(strides), pads, dimension_numbers=DIMENSIONS,
                            transpose_kernel=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def im2col_grad_conv_transpose(x: Array, kernel: Array, strides: tuple[int, int],
                               padding: int) -> Array:
  """`xla_conv_transpose` whose kernel gradient is an im2col matmul (see the module docstring).

  The transposed convolution is the adjoint of the strided convolution by the same kernel read as
  HWIO, with padding `padding`: its input gradient is that convolution of the output gradient
  (fast in XLA), its kernel gradient the im2col patches of the output gradient against `x`.
  Reverse mode only (`jax.custom_vjp`): no `jax.jvp` through it.
  """
  return xla_conv_transpose(x, kernel, strides, padding)


def _conv_transpose_forward(x: Array, kernel: Array, strides: tuple[int, int],
                            padding: int) -> tuple[Array, tuple[Array, Array]]:
  """`im2col_grad_conv_transpose` and its residuals: the input and the kernel."""
  return xla_conv_transpose(x, kernel, strides, padding), (x, kernel)


def _conv_transpose_backward(strides: tuple[int, int], padding: int,
                             residuals: tuple[Array, Array], grad: Array) -> tuple[Array, Array]:
  """Gradients of `im2col_grad_conv_transpose` w.r.t. the input and the kernel."""
  x, kernel = residuals
  pads = ((padding, padding), (padding, padding))
  grad_x = lax.conv_general_dilated(grad, kernel, strides, pads, dimension_numbers=DIMENSIONS)
  columns = im2col(grad, kernel.shape[:2], strides, pads)  # (B, H, W, kh * kw * Cout)
  grad_kernel = jnp.einsum('bhwp,bhwc->pc', columns, x).reshape(kernel.shape)
  return grad_x, grad_kernel


im2col_grad_conv_transpose.defvjp(_conv_transpose_forward, _conv_transpose_backward)


class ConvTranspose(nn.Module):
  """PyTorch's bias-free ConvTranspose2d, parameter-compatible with `flax.linen.ConvTranspose`.

  The kernel is the param 'kernel' (kh, kw, Cout, Cin) of `nn.ConvTranspose(...,
  transpose_kernel=True, use_bias=False)`, whose outputs these equal with its padding
  k - 1 - `padding` on each side, so checkpoints move between them.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: PyTorch's padding: output side (input side - 1) * stride - 2 * padding + kernel.
    impl: 'im2col' (XLA's convolution with an im2col kernel gradient, fast on CPU), 'xla' or
      'auto' (`resolve_impl`).
    kernel_init: initialiser of the (kh, kw, Cout, Cin) kernel.
    dtype: computation dtype (params stay float32).
  """
  features: int
  kernel_size: Sequence[int] = (4, 4)
  strides: Sequence[int] = (2, 2)
  padding: int = 1
  impl: str = 'auto'
  kernel_init: Initializer = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    shape = (*self.kernel_size, self.features, x.shape[-1])
    kernel = self.param('kernel', self.kernel_init, shape, jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    conv = im2col_grad_conv_transpose if resolve_impl(self.impl) == 'im2col' else xla_conv_transpose
    return conv(x, kernel, tuple(self.strides), self.padding)


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
