"""The im2col convolution equals XLA's native convolution, values and derivatives."""

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


def test_im2col_double_backward_equals_lax_conv():
  """The gradient penalty differentiates twice: d/dkernel of ||d out / d x||^2 must agree."""
  kx, kk = jax.random.split(jax.random.key(1))
  x = jax.random.normal(kx, (2, 12, 12, 3))
  kernel = jax.random.normal(kk, (5, 5, 3, 4))

  def penalty(conv, kernel):
    input_grad = jax.grad(lambda v: jnp.sum(jnp.tanh(conv(v, kernel, (2, 2)))))(x)
    return jnp.sum(input_grad ** 2)

  got = jax.grad(lambda k: penalty(layers.im2col_conv, k))(kernel)
  want = jax.grad(lambda k: penalty(reference_conv, k))(kernel)
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_conv_module_impls_share_parameters():
  x = jax.random.normal(jax.random.key(2), (2, 9, 9, 3))
  module = layers.Conv(4, (3, 3), strides=(2, 2), impl='im2col')
  variables = module.init(jax.random.key(3), x)
  assert variables['params']['kernel'].shape == (3, 3, 3, 4)
  xla = layers.Conv(4, (3, 3), strides=(2, 2), impl='xla').apply(variables, x)
  np.testing.assert_allclose(module.apply(variables, x), xla, rtol=1e-4, atol=1e-4)


def test_unknown_impl_is_refused():
  with pytest.raises(ValueError, match='fft'):
    layers.Conv(4, impl='fft').init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))
