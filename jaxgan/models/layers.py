"""Layers shared by the models: convolutions with fast CPU paths, optional spectral norm.

Why im2col: XLA's CPU backend runs the double backward of strided convolutions (which the gradient
penalty needs) about 30x slower than their forward. Written as strided slices of the padded input
concatenated along channels followed by one matmul, the same convolution differentiates twice
through slices and a dot only, which XLA handles ~9x faster on CPU. On GPU/TPU the native
convolution (`impl='xla'`) is the better choice; `impl='auto'` picks im2col on CPU (or the model's
choice: `resolve_impl(impl, on_cpu=...)`) and xla elsewhere. Stride-1 convolutions without a double
backward (the CTGAN generator's) are faster with 'xla' on CPU too.

Convolutions differentiated once (the DCGAN discriminator's): `impl='im2col_phase'` keeps the
im2col forward and kernel gradient, and computes the input gradient per output phase
(`phase_input_grad`) instead of autodiff's col2im, which adds kh * kw zero-padded copies of the
input-sized gradient (the largest loop fusions of the DCGAN step in a profile). Measured on the
2-core CPU (`python -m jaxgan.benchmark --plan=critic_conv`, docs/benchmarks.md, 2026-12-06): the
DCGAN iteration 1.16x faster; twice differentiated, in the paper model's critic with its
gradient penalty, 1.69x slower than 'im2col', which stays the CTGAN critics' choice. XLA's own
convolution ('xla') is no way out for the DCGAN discriminator on CPU: inside the step's
`lax.scan` over critic updates, XLA lays out its kernel gradients (dim_labels f01b_i01o->01bf)
for the CPU backend's slow generic loop, far slower than the same update outside the scan.

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

CONV_IMPLS = ('auto', 'im2col', 'im2col_phase', 'xla')
DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')  # layouts of input, kernel and output


def resolve_impl(impl: str, on_cpu: str = 'im2col') -> str:
  """'auto' -> `on_cpu` on CPU, 'xla' on GPU/TPU; other values are checked and returned."""
  for name in (impl, on_cpu):
    if name not in CONV_IMPLS:
      raise ValueError(f'conv impl {name!r} is unknown; choose one of {CONV_IMPLS}')
  if impl == 'auto':
    return on_cpu if jax.default_backend() == 'cpu' else 'xla'
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


def conv_padding(x_shape: Sequence[int], kernel_shape: Sequence[int],
                 strides: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
  """'SAME' padding (low, high) of the height and width of a NHWC input for a HWIO kernel."""
  return tuple(same_padding(size, k, s) for size, k, s in zip(x_shape[1:3], kernel_shape[:2],
                                                              strides))


def im2col_kernel_grad(x: Array, grad: Array, kernel_shape: Sequence[int],
                       strides: Sequence[int], padding: Sequence[tuple[int, int]]) -> Array:
  """Kernel gradient of the convolution of `x` with `padding`: its patches against the output
  gradient `grad`, one matmul."""
  columns = im2col(x, kernel_shape[:2], strides, padding)  # (B, h, w, kh * kw * Cin)
  return jnp.einsum('bhwp,bhwc->pc', columns, grad).reshape(kernel_shape)


def phase_input_grad(grad: Array, kernel: Array, strides: tuple[int, int],
                     x_shape: tuple[int, ...]) -> Array:
  """Input gradient of the 'SAME' convolution (kernel HWIO) of an `x_shape` input, by phases.

  The input position q = s * n + c sits at s * m + a in the padded input (padding p before it:
  a = (c + p) mod s, m = n + (c + p) // s) and takes the output gradient at m - j through the
  kernel tap a + s * j, for every j. So each phase (c, d) of the two dimensions is shifted slices
  of `grad` concatenated along channels and one matmul with those taps; the phases are then
  interleaved. Unlike autodiff of `im2col`, which adds kh * kw zero-padded copies of the whole
  input-sized gradient, no array is larger than the result. Differentiable again, but slower
  there than autodiff of `im2col_conv` (see the module docstring).
  """
  kh, kw, cin, cout = kernel.shape
  batch, out_h, out_w, _ = grad.shape
  sh, sw = strides
  (low_h, _), (low_w, _) = conv_padding(x_shape, kernel.shape, strides)
  rows_h, rows_w = -(-x_shape[1] // sh), -(-x_shape[2] // sw)  # positions n of one phase
  taps_h, taps_w = -(-kh // sh), -(-kw // sw)  # the most taps j of one phase
  shift_h, shift_w = (sh - 1 + low_h) // sh, (sw - 1 + low_w) // sw  # the largest (c + p) // s
  padded = jnp.pad(grad, ((0, 0), (taps_h - 1, max(0, shift_h + rows_h - out_h)),
                          (taps_w - 1, max(0, shift_w + rows_w - out_w)), (0, 0)))
  phases = []
  for c in range(sh):
    a, start_h = (c + low_h) % sh, (c + low_h) // sh + taps_h - 1
    for d in range(sw):
      b, start_w = (d + low_w) % sw, (d + low_w) // sw + taps_w - 1
      taps = [(j, l) for j in range(taps_h) if a + sh * j < kh
              for l in range(taps_w) if b + sw * l < kw]
      if not taps:  # a kernel smaller than the stride skips this phase
        phases.append(jnp.zeros((batch, rows_h, rows_w, cin), grad.dtype))
        continue
      shifted = [lax.slice(padded, (0, start_h - j, start_w - l, 0),
                           (batch, start_h - j + rows_h, start_w - l + rows_w, cout))
                 for j, l in taps]
      weights = jnp.concatenate([kernel[a + sh * j, b + sw * l].T for j, l in taps], axis=0)
      phases.append(jnp.concatenate(shifted, axis=-1) @ weights)
  full = jnp.stack(phases, axis=3).reshape(batch, rows_h, rows_w, sh, sw, cin)
  full = full.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows_h * sh, rows_w * sw, cin)
  return full[:, :x_shape[1], :x_shape[2]]


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
  columns = im2col(x, (kh, kw), strides, conv_padding(x.shape, kernel.shape, strides))
  return columns @ kernel.reshape(kh * kw * cin, cout)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def im2col_phase_conv(x: Array, kernel: Array, strides: tuple[int, int]) -> Array:
  """`im2col_conv` whose input gradient is `phase_input_grad` (`jax.custom_vjp`, reverse mode)."""
  return im2col_conv(x, kernel, strides)


def _phase_conv_forward(x: Array, kernel: Array,
                        strides: tuple[int, int]) -> tuple[Array, tuple[Array, Array]]:
  """`im2col_phase_conv` and its residuals: the input and the kernel."""
  return im2col_conv(x, kernel, strides), (x, kernel)


def _phase_conv_backward(strides: tuple[int, int], residuals: tuple[Array, Array],
                         grad: Array) -> tuple[Array, Array]:
  """Gradients of `im2col_phase_conv` w.r.t. the input and the kernel."""
  x, kernel = residuals
  return (phase_input_grad(grad, kernel, strides, x.shape),
          im2col_kernel_grad(x, grad, kernel.shape, strides,
                             conv_padding(x.shape, kernel.shape, strides)))


im2col_phase_conv.defvjp(_phase_conv_forward, _phase_conv_backward)


def xla_conv(x: Array, kernel: Array, strides: Sequence[int]) -> Array:
  """'SAME' NHWC convolution by XLA's native convolution."""
  return lax.conv_general_dilated(x, kernel, tuple(strides), 'SAME', dimension_numbers=DIMENSIONS)


CONVS = {'im2col': im2col_conv, 'im2col_phase': im2col_phase_conv, 'xla': xla_conv}


class Conv(nn.Module):
  """'SAME'-padded 2-D convolution, parameter-compatible with `flax.linen.Conv`.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: (sh, sw).
    impl: 'im2col' (fast double backward on CPU), 'im2col_phase' (fastest single backward on
      CPU), 'xla' (native convolution) or 'auto' (`resolve_impl`).
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
    y = CONVS[resolve_impl(self.impl)](x, kernel, tuple(self.strides))
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
  return grad_x, im2col_kernel_grad(grad, x, kernel.shape, strides, pads)


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
    impl: 'im2col' or 'im2col_phase' (the same here: XLA's convolution with an im2col kernel
      gradient, fast on CPU), 'xla' or 'auto' (`resolve_impl`).
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
    conv = xla_conv_transpose if resolve_impl(self.impl) == 'xla' else im2col_grad_conv_transpose
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
