"""The im2col convolutions equal XLA's native convolution, and the transposed convolution with an
im2col kernel gradient equals flax's: values and derivatives."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgan.models import layers


def reference_conv(x, kernel, strides):
  return lax.conv_general_dilated(x, kernel, strides, 'SAME',
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                  precision=lax.Precision.HIGHEST)


@pytest.mark.parametrize('size,kernel_size,stride,cin,cout', [
    (48, 5, 2, 1, 4), (24, 5, 2, 3, 5), (43, 3, 1, 2, 3), (7, 3, 2, 2, 2), (12, 4, 2, 3, 2),
])
def test_im2col_equals_lax_conv(size, kernel_size, stride, cin, cout):
  kx, kk = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (2, size, size, cin))
  kernel = jax.random.normal(kk, (kernel_size, kernel_size, cin, cout))
  got = layers.im2col_conv(x, kernel, (stride, stride))
  want = reference_conv(x, kernel, (stride, stride))
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl,kernel_size', [('im2col', 5), ('im2col_phase', 4)])
def test_double_backward_equals_lax_conv(impl, kernel_size):
  """The gradient penalty differentiates twice: d/dkernel of ||d out / d x||^2 must agree
  ('im2col_phase' is slower there than 'im2col', but still right)."""
  rng = np.random.default_rng(1)
  x = rng.standard_normal((2, 11, 11, 3), np.float32)
  kernel = rng.standard_normal((kernel_size, kernel_size, 3, 4), np.float32)

  def penalty(conv, kernel):
    input_grad = jax.grad(lambda v: jnp.sum(jnp.tanh(conv(v, kernel, (2, 2)))))(x)
    return jnp.sum(input_grad ** 2)

  got = jax.grad(lambda k: penalty(layers.CONVS[impl], k))(kernel)
  want = jax.grad(lambda k: penalty(reference_conv, k))(kernel)
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('size,kernel_size,stride,cin,cout', [
    (16, 4, 2, 3, 4), (13, 5, 2, 2, 3), (9, 3, 1, 2, 2), (10, 2, 3, 2, 2), (7, 3, 2, 3, 2),
])
def test_im2col_phase_gradients_equal_lax_conv(size, kernel_size, stride, cin, cout):
  """Value and both gradients of the per-phase input gradient path, for a random cotangent:
  even and odd sizes, stride 1, and a stride larger than the kernel (phases without taps)."""
  rng = np.random.default_rng(7)
  x = rng.standard_normal((2, size, size, cin), np.float32)
  kernel = rng.standard_normal((kernel_size, kernel_size, cin, cout), np.float32)
  side = -(-size // stride)
  cotangent = rng.standard_normal((2, side, side, cout), np.float32)

  def value_and_grads(conv):
    value, vjp = jax.vjp(lambda v, k: conv(v, k, (stride, stride)), x, kernel)
    return value, vjp(cotangent)

  got = value_and_grads(layers.im2col_phase_conv)
  want = value_and_grads(reference_conv)
  for got_array, want_array in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(got_array, want_array, rtol=1e-4, atol=1e-4)


@pytest.mark.fast
def test_auto_resolves_to_the_models_cpu_choice():
  assert jax.default_backend() == 'cpu'
  assert layers.resolve_impl('auto') == 'im2col'
  assert layers.resolve_impl('auto', on_cpu='im2col_phase') == 'im2col_phase'
  assert layers.resolve_impl('xla', on_cpu='im2col_phase') == 'xla'
  with pytest.raises(ValueError, match='fft'):
    layers.resolve_impl('auto', on_cpu='fft')


@pytest.mark.parametrize('impl', ['im2col', 'im2col_phase'])
def test_conv_module_impls_share_parameters(impl):
  x = jax.random.normal(jax.random.key(2), (2, 9, 9, 3))
  module = layers.Conv(4, (3, 3), strides=(2, 2), impl=impl)
  variables = module.init(jax.random.key(3), x)
  assert variables['params']['kernel'].shape == (3, 3, 3, 4)
  xla = layers.Conv(4, (3, 3), strides=(2, 2), impl='xla').apply(variables, x)
  np.testing.assert_allclose(module.apply(variables, x), xla, rtol=1e-4, atol=1e-4)


def test_unknown_impl_is_refused():
  with pytest.raises(ValueError, match='fft'):
    layers.Conv(4, impl='fft').init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))


def flax_conv_transpose(x, kernel, strides, padding):
  """flax's ConvTranspose as the DCGAN used it: PyTorch padding p is k - 1 - p of lax's."""
  pads = [(size - 1 - padding,) * 2 for size in kernel.shape[:2]]
  module = nn.ConvTranspose(kernel.shape[2], kernel.shape[:2], strides=strides, padding=pads,
                            use_bias=False, transpose_kernel=True,
                            precision=lax.Precision.HIGHEST)
  return module.apply({'params': {'kernel': kernel}}, x)


@pytest.mark.parametrize('size,kernel_size,stride,padding,cin,cout', [
    (4, 4, 2, 1, 3, 2), (5, 4, 2, 1, 2, 3), (1, 4, 1, 0, 5, 4), (6, 3, 2, 1, 3, 2),
    (5, 4, 3, 1, 2, 2),
])
def test_im2col_grad_conv_transpose_equals_flax(size, kernel_size, stride, padding, cin, cout):
  """Values and both gradients (for a random output cotangent) of the custom-gradient path."""
  rng = np.random.default_rng(4)  # numpy's draws: jax.random's take seconds to compile here
  x = rng.standard_normal((2, size, size, cin), np.float32)
  kernel = rng.standard_normal((kernel_size, kernel_size, cout, cin), np.float32)
  side = (size - 1) * stride - 2 * padding + kernel_size
  cotangent = rng.standard_normal((2, side, side, cout), np.float32)

  @functools.partial(jax.jit, static_argnums=0)
  def value_and_grads(conv):
    value, vjp = jax.vjp(lambda v, k: conv(v, k, (stride, stride), padding), x, kernel)
    return value, vjp(cotangent)

  got = value_and_grads(layers.im2col_grad_conv_transpose)
  want = value_and_grads(flax_conv_transpose)
  assert got[0].shape == (2, side, side, cout)
  for got_array, want_array in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(got_array, want_array, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl', ['im2col', 'xla'])
def test_conv_transpose_module_shares_flax_parameters(impl):
  rng = np.random.default_rng(5)
  x = rng.standard_normal((2, 3, 3, 4), np.float32)
  module = layers.ConvTranspose(5, (4, 4), strides=(2, 2), padding=1, impl=impl)
  flax_module = nn.ConvTranspose(5, (4, 4), strides=(2, 2), use_bias=False, transpose_kernel=True)
  shapes = jax.eval_shape(module.init, jax.random.key(6), x)
  assert shapes == jax.eval_shape(flax_module.init, jax.random.key(6), x)
  kernel = rng.standard_normal(shapes['params']['kernel'].shape, np.float32)
  got = module.apply({'params': {'kernel': kernel}}, x)
  assert got.shape == (2, 6, 6, 5)
  np.testing.assert_allclose(got, flax_conv_transpose(x, kernel, (2, 2), 1), rtol=1e-4,
                             atol=1e-4)
