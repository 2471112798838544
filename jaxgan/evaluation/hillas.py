"""Hillas parameters of telescope images, batched in JAX (Hillas 1985).

The image is treated as a distribution of light in camera coordinates (degrees; the convention of
`jaxgan.camera`: pixel (i, j) at x = (j - c) p, y = (i - c) p, c = (n - 1) / 2). Its first
and second moments give the size (total charge), the centroid, the length and width (standard
deviations along the major and minor axes) and the orientation psi of the major axis; the third
and fourth standardised moments of the coordinate along the major axis give its skewness and
kurtosis (as `ctapipe.image.hillas_parameters`: the axis points along psi, cos psi >= 0, so the
skewness sign says on which side the tail lies). Given the source position, `alpha` is the angle
between the major axis and the line from the centroid to the source, and `miss` the distance from
the source to the major axis line: both small for gamma rays, whose images point back to their
source; spread out for protons.

`tests/test_hillas.py` checks every parameter against ctapipe (`hillas_parameters` on a
`CameraGeometry` of the same square pixels) on tailcut-cleaned toy_iact images.

Negative pixels (pedestal-subtracted noise) carry no light: pass images through a cleaning mask
first (`cleaned`, the camera's tailcut: `jaxgan.camera.tailcut_mask`), as Hillas analyses do.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import camera as camera_lib

Array = jax.Array


class HillasParameters(NamedTuple):
  """Per-image moments, each of shape (B,). Lengths in degrees, psi in radians (-pi/2, pi/2];
  skewness and kurtosis (dimensionless) of the light along the major axis, in the psi direction."""
  size: Array
  x: Array
  y: Array
  length: Array
  width: Array
  psi: Array
  skewness: Array
  kurtosis: Array


def cleaned(images: Array, picture: float, boundary: float) -> Array:
  """(B, H, W) or (B, H, W, 1) images with the pixels outside the tailcut mask set to 0."""
  images = images[..., 0] if images.ndim == 4 else images
  return jnp.where(camera_lib.tailcut_mask(images, picture, boundary), images, 0.0)


def hillas_parameters(images: Array, pixel_size_deg: float) -> HillasParameters:
  """Moments of (B, H, W) non-negative images (negative pixels count as 0).

  Images without light get size 0 and zero moments (also skewness and kurtosis where the length
  is 0, e.g. a single lit pixel).
  """
  weights = jnp.maximum(images, 0.0)
  height, width = weights.shape[-2:]
  ys = (jnp.arange(height) - (height - 1) / 2) * pixel_size_deg
  xs = (jnp.arange(width) - (width - 1) / 2) * pixel_size_deg
  size = weights.sum(axis=(-2, -1))
  norm = jnp.where(size > 0, size, 1.0)
  row_sums, column_sums = weights.sum(axis=-1), weights.sum(axis=-2)
  mean_x = (column_sums * xs).sum(-1) / norm
  mean_y = (row_sums * ys).sum(-1) / norm
  dx = xs[None, None, :] - mean_x[:, None, None]
  dy = ys[None, :, None] - mean_y[:, None, None]
  var_x = (weights * dx * dx).sum(axis=(-2, -1)) / norm
  var_y = (weights * dy * dy).sum(axis=(-2, -1)) / norm
  cov_xy = (weights * dx * dy).sum(axis=(-2, -1)) / norm
  half_trace, half_diff = (var_x + var_y) / 2, (var_x - var_y) / 2
  radius = jnp.sqrt(half_diff ** 2 + cov_xy ** 2)
  length = jnp.sqrt(jnp.maximum(half_trace + radius, 0.0))
  minor = jnp.sqrt(jnp.maximum(half_trace - radius, 0.0))
  psi = 0.5 * jnp.arctan2(2 * cov_xy, var_x - var_y)
  skewness, kurtosis = _longitudinal_moments(weights, dx, dy, norm, psi, length)
  return HillasParameters(size, mean_x, mean_y, length, minor, psi, skewness, kurtosis)


def _longitudinal_moments(weights: Array, dx: Array, dy: Array, norm: Array, psi: Array,
                          length: Array) -> tuple[Array, Array]:
  """Skewness and kurtosis: third and fourth moments of the coordinate along psi over length^3,
  length^4 (the light-weighted mean of that coordinate is 0: it is measured from the centroid)."""
  along = dx * jnp.cos(psi)[:, None, None] + dy * jnp.sin(psi)[:, None, None]
  safe_length = jnp.where(length > 0, length, 1.0)
  third = (weights * along ** 3).sum(axis=(-2, -1)) / norm
  fourth = (weights * along ** 4).sum(axis=(-2, -1)) / norm
  return (jnp.where(length > 0, third / safe_length ** 3, 0.0),
          jnp.where(length > 0, fourth / safe_length ** 4, 0.0))


def alpha_deg(params: HillasParameters, source: Array) -> Array:
  """Angle in degrees, in [0, 90], between the major axis and the centroid-to-source line.

  Args:
    params: Hillas parameters of B images.
    source: (B, 2) source positions (x, y) in degrees.
  """
  to_source = jnp.arctan2(source[:, 1] - params.y, source[:, 0] - params.x)
  difference = jnp.abs(jnp.mod(to_source - params.psi, jnp.pi))  # the axis has no direction
  return jnp.degrees(jnp.minimum(difference, jnp.pi - difference))


def miss_deg(params: HillasParameters, source: Array) -> Array:
  """Distance in degrees from the source to the major axis line (through the centroid along psi).

  Args:
    params: Hillas parameters of B images.
    source: (B, 2) source positions (x, y) in degrees.
  """
  dx, dy = source[:, 0] - params.x, source[:, 1] - params.y
  return jnp.abs(dx * jnp.sin(params.psi) - dy * jnp.cos(params.psi))
