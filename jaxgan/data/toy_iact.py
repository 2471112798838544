"""Toy single-telescope IACT images: a fast, vectorised JAX simulator of gamma and proton showers.

A stand-in for the MAGIC simulations of the CTGAN source (SPEC part B) when none are at hand: it
produces labelled 43x43x1 images with the same label convention (`jaxgan.labels`) and the
physical regularities a GAN must learn (Hillas 1985): the image is an ellipse whose light grows
with energy, whose major axis points back to the source for gammas, whose centroid lies farther
from the source the farther the shower lands, and which is wider and patchier for protons.

Camera coordinates: pixel (row i, column j) has its centre at x = (j - c) * pixel_size_deg,
y = (i - c) * pixel_size_deg with c = (image_size - 1) / 2, so the pointing direction (camera
centre) is pixel (21, 21) for 43x43 images, `image[i, j, 0]` is the charge at (x_j, y_i), and the
`direction` label (x, y) is the source position in those same coordinates, in degrees.

Each event is drawn by `simulate_event` from its own key; `simulate` vmaps it over chunks of
`config.chunk_size` events with one compiled function. Event n always uses
`jax.random.fold_in(key, n)`: it is bitwise the same whatever `num` is, and the same up to float
rounding (~1e-5 pe, from XLA's batch-size dependent code) whatever `chunk_size` is.

Not modelled (documented simplifications): the hexagonal pixel layout and trigger, atmospheric
absorption, the geomagnetic field, muon rings, time information, and the zenith-angle dependence
of the light pool; the camera's mirror flip is absorbed in the sign of the impact azimuth.

Command line: simulate a data set into a `jaxgan.data.hdf5` file, in pieces of bounded memory,
with a progress line (events done, events/s), the file equal bit for bit to
`simulate(jax.random.key(seed), num, config)`; any simulator field is overridden as
`--sim.<field>=<value>` (type-checked, misspelt fields refused):

  python -m jaxgan.data.toy_iact --output=toy.h5 --num=100000 --seed=0 \
      [--sim.energy_min_tev=0.2 --sim.nsb_rate_pe=2 --piece_size=16384]
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib

Array = jax.Array

GAMMA = labels_lib.PARTICLE_NAMES.index('gamma')
PROTON = labels_lib.PARTICLE_NAMES.index('proton')

# Pixel charges: Poisson counts are drawn exactly (inverse CDF with _POISSON_TERMS terms) where
# the rate is at most _EXACT_POISSON_MAX_RATE; above, a Cornish-Fisher corrected normal is used
# (Kolmogorov distance to the exact charge law < 0.3% for rates > 6 with the default single-pe
# resolution). With 16-bit uniforms the truncation P(N >= 20 | rate 6) = 3e-6 is below their
# resolution (2^-16), which also caps NSB-only pixels at ~7 pe for nsb_rate_pe = 1.
_EXACT_POISSON_MAX_RATE = 6.0
_POISSON_TERMS = 20
# Keeps uniforms strictly inside (0, 1) before the inverse normal CDF.
_UNIFORM_EPSILON = 1e-6


def default_config() -> ml_collections.ConfigDict:
  """All simulator parameters; defaults aim at MAGIC-like images (Aleksic et al. 2016)."""
  c = ml_collections.ConfigDict()
  # Camera.
  c.image_size = 43  # pixels per side, as the source's MAGIC images (SPEC part B)
  c.pixel_size_deg = 0.1  # MAGIC pixel field of view
  c.psf_deg = 0.02  # optical point-spread sigma; a fraction of a pixel, like MAGIC's reflectors
  # Primaries.
  c.energy_min_tev = 0.05  # lower bound of the simulated spectrum (MAGIC threshold ~50 GeV)
  c.energy_max_tev = 50.0  # upper bound of the simulated spectrum
  c.energy_index = -2.0  # dN/dE ~ E^index (MC productions use -1.6 to -2.7, then reweight)
  c.direction_cone_deg = 1.5  # diffuse arrival directions, uniform in a cone of this radius
  c.max_impact_m = 250.0  # impact distance uniform in area (r = R sqrt(u)) up to this radius
  c.gamma_fraction = 0.5  # probability that an event is a gamma (else a proton)
  # Atmosphere and longitudinal development (Heitler model for gammas, Matthews 2005 for protons).
  c.zenith_deg = 20.0  # pointing zenith angle (the source simulations span 5-35 deg)
  c.observation_level_m = 2200.0  # MAGIC site altitude (Roque de los Muchachos, La Palma)
  c.atmosphere_depth_g_cm2 = 1030.0  # vertical depth of the atmosphere at sea level
  c.scale_height_m = 8400.0  # isothermal exponential atmosphere: X(h) = X0 exp(-h / H)
  c.radiation_length_g_cm2 = 36.7  # electromagnetic radiation length in air
  c.critical_energy_mev = 85.0  # critical energy in air (Heitler: Xmax = X0 ln(E / Ec))
  c.proton_interaction_length_g_cm2 = 90.0  # proton-air interaction length at TeV energies
  c.proton_multiplicity = 10.0  # charged pions per hadronic interaction (Matthews 2005)
  # Light yield: Cherenkov light is proportional to the electromagnetic track length, hence to
  # the energy (Hillas 1985); ~100 photons/m^2/TeV in the pool x 236 m^2 mirror x ~5% efficiency.
  c.pe_per_tev = 1000.0  # mean image size (photoelectrons) of a 1 TeV gamma inside the light pool
  c.light_pool_radius_m = 120.0  # flat photon density inside the Cherenkov light pool
  c.light_pool_falloff_m = 80.0  # exponential fall of the density beyond the pool radius
  c.gamma_size_spread = 0.25  # log-normal sigma of gamma image size (shower fluctuations)
  c.proton_light_fraction = 0.35  # protons put ~1/3 of their energy into the em component (pi0)
  c.proton_size_spread = 0.5  # log-normal sigma of proton image size (larger fluctuations)
  # Image shape (Hillas parameters), for gammas; sizes in photoelectrons, angles in degrees.
  c.width_deg = 0.06  # intrinsic width (lateral sigma) at size 100 pe (MAGIC gammas: ~0.1 deg)
  c.width_per_decade_deg = 0.02  # width growth per decade of size
  c.length_deg = 0.12  # intrinsic length (longitudinal sigma) at size 100 pe and zero impact
  c.length_per_decade_deg = 0.05  # length growth per decade of size
  c.length_per_disp = 0.1  # geometric elongation: extra length per degree of centroid distance
  c.shape_spread = 0.15  # log-normal sigma of the event-to-event width and length fluctuations
  c.tail_to_head_ratio = 2.0  # longitudinal sigma away from / towards the source (image skewness)
  # Protons: wider, tilted, displaced and patchy images (pi0 sub-showers; Hillas 1985).
  c.proton_width_factor = 2.0  # proton width / gamma width at the same size
  c.proton_length_factor = 1.3  # proton length / gamma length at the same size
  c.proton_tilt_deg = 20.0  # sigma of the tilt of the proton image axis off the source direction
  c.proton_centroid_jitter_deg = 0.15  # sigma of the extra proton centroid offset per axis
  c.max_subshowers = 2  # sub-shower slots per proton event
  c.proton_subshower_probability = 0.5  # probability that each slot holds a sub-shower
  c.subshower_max_fraction = 0.3  # a sub-shower takes a fraction U(0, this) of the image size
  c.subshower_offset_deg = 0.5  # sigma of the sub-shower offset from the centroid, per axis
  c.subshower_width_deg = 0.06  # sigma of a (round) sub-shower blob
  # Photodetection and noise.
  c.nsb_rate_pe = 1.0  # mean night-sky background pe per pixel (MAGIC dark-night pedestal RMS ~1)
  c.single_pe_resolution = 0.5  # sigma of one photoelectron's charge (PMT excess noise F ~ 1.1)
  c.electronic_noise_pe = 0.25  # Gaussian readout noise per pixel, sigma in pe
  # Optional two-level tailcut cleaning (MAGIC standard levels 6 and 3 pe; Aleksic et al. 2012).
  c.tailcut = False  # zero the pixels that do not survive the cleaning
  c.tailcut_picture_pe = 6.0  # picture (core) threshold
  c.tailcut_boundary_pe = 3.0  # boundary threshold
  # Execution.
  c.chunk_size = 512  # images per jitted call (on CPU, small enough for the random bits to stay
  # in cache: 512 is ~2x faster per image than 4096)
  return c


class Primary(NamedTuple):
  """The sampled primary particle and its geometry (scalars, or (2,) for `direction`)."""
  is_gamma: Array  # bool
  energy_tev: Array
  direction: Array  # source position in the camera, degrees
  impact_m: Array  # distance of the shower axis from the telescope
  impact_azimuth: Array  # radians; the image is displaced from the source along this azimuth
  first_interaction_u: Array  # uniform variate of the first interaction depth


class Shower(NamedTuple):
  """Parameters of one expected image, in photoelectrons and degrees."""
  size: Array  # expected total photoelectrons, sub-showers included
  centroid: Array  # (2,) centroid of the main ellipse
  axis_angle: Array  # radians; the long tail extends along +axis
  length: Array  # longitudinal standard deviation (Hillas length) before PSF and pixels
  width: Array  # lateral standard deviation (Hillas width) before PSF and pixels
  sub_positions: Array  # (max_subshowers, 2)
  sub_fractions: Array  # (max_subshowers,) fractions of `size`, zero for an empty slot


def sample_energy(u: Array, config: ml_collections.ConfigDict) -> Array:
  """Inverse CDF of dN/dE ~ E^index truncated to [energy_min_tev, energy_max_tev], in TeV."""
  low, high, slope = config.energy_min_tev, config.energy_max_tev, config.energy_index + 1.0
  if abs(slope) < 1e-9:  # index -1: log-uniform
    energy = low * (high / low)**u
  else:
    energy = (low**slope + u * (high**slope - low**slope))**(1.0 / slope)
  return jnp.clip(energy, low, high)


def _uniform_in_disc(u_radius: Array, u_azimuth: Array, radius: float) -> tuple[Array, Array]:
  """(distance, azimuth) of a point uniform in area in a disc: r = R sqrt(u)."""
  return radius * jnp.sqrt(u_radius), 2.0 * jnp.pi * u_azimuth


def sample_primary(u: Array, config: ml_collections.ConfigDict) -> Primary:
  """A primary from 7 uniform variates `u`: type, energy, arrival direction and impact."""
  offset, offset_azimuth = _uniform_in_disc(u[2], u[3], config.direction_cone_deg)
  impact, impact_azimuth = _uniform_in_disc(u[4], u[5], config.max_impact_m)
  return Primary(
      is_gamma=u[0] < config.gamma_fraction,
      energy_tev=sample_energy(u[1], config),
      direction=offset * jnp.stack([jnp.cos(offset_azimuth), jnp.sin(offset_azimuth)]),
      impact_m=impact,
      impact_azimuth=impact_azimuth,
      first_interaction_u=u[6])


def shower_max_depth(primary: Primary, config: ml_collections.ConfigDict) -> Array:
  """Slant depth of the shower maximum, g/cm^2, with an exponential first interaction point.

  Gammas: Heitler model, Xmax = X1 + X0 ln(E / Ec), X1 ~ Exp(9/7 X0) (pair-production length).
  Protons: Heitler-Matthews (Matthews 2005), Xmax = X1 + X0 ln(E / (3 N_ch Ec)), X1 ~ Exp(lambda_p).
  """
  x0 = config.radiation_length_g_cm2
  energy_mev = primary.energy_tev * 1e6
  gamma_ratio = energy_mev / config.critical_energy_mev
  proton_ratio = gamma_ratio / (3.0 * config.proton_multiplicity)
  ratio = jnp.where(primary.is_gamma, gamma_ratio, proton_ratio)
  mean_first = jnp.where(primary.is_gamma, 9.0 / 7.0 * x0, config.proton_interaction_length_g_cm2)
  first = -mean_first * jnp.log1p(-primary.first_interaction_u)
  return first + x0 * jnp.log(jnp.maximum(ratio, 1.0))


def distance_to_max_m(depth: Array, config: ml_collections.ConfigDict) -> Array:
  """Distance along the shower axis from the telescope to the shower maximum (exponential
  atmosphere, flat Earth), at least 1 km so that rare deep showers stay above the telescope."""
  cos_zenith = math.cos(math.radians(config.zenith_deg))
  height = config.scale_height_m * jnp.log(config.atmosphere_depth_g_cm2 / (depth * cos_zenith))
  return jnp.maximum(height - config.observation_level_m, 1000.0) / cos_zenith


def lateral_light(impact_m: Array, config: ml_collections.ConfigDict) -> Array:
  """Relative Cherenkov photon density at the telescope: flat inside the light pool (~120 m, the
  Cherenkov ring radius from ~10 km), exponentially falling outside (Hillas 1985)."""
  beyond = jnp.maximum(impact_m - config.light_pool_radius_m, 0.0)
  return jnp.exp(-beyond / config.light_pool_falloff_m)


def _standard_normal(u: Array) -> Array:
  """Inverse normal CDF (via XLA's ErfInv, twice as fast as ndtri on CPU)."""
  u = jnp.clip(u, _UNIFORM_EPSILON, 1.0 - _UNIFORM_EPSILON)
  return math.sqrt(2.0) * jax.lax.erf_inv(2.0 * u - 1.0)


def _to_uniform(bits: Array, num_bits: int) -> Array:
  """Uniforms in (0, 1), at the centres of 2^num_bits bins, from integers below 2^num_bits."""
  return (bits.astype(jnp.float32) + 0.5) * 0.5**num_bits


def event_uniforms(key: Array, config: ml_collections.ConfigDict) -> tuple[Array, Array]:
  """All of an event's randomness from one threefry call (random bits dominate the cost, and each
  call site costs compile time): `num_shower_uniforms` 23-bit uniforms for the shower and an
  (n, n) array of 16-bit uniforms for the pixels, two per 32-bit word."""
  n, num_shower = config.image_size, num_shower_uniforms(config)
  words = jax.random.bits(key, (num_shower + (n * n + 1) // 2,), jnp.uint32)
  pixel_words = words[num_shower:]
  halves = jnp.concatenate([pixel_words & 0xFFFF, pixel_words >> 16])[:n * n]
  return _to_uniform(words[:num_shower] >> 9, 23), _to_uniform(halves, 16).reshape(n, n)


def _log_normal(z: Array, sigma: float | Array) -> Array:
  """Mean-one log-normal factor from a standard normal variate."""
  return jnp.exp(sigma * z - 0.5 * sigma**2)


def image_size(primary: Primary, z: Array, config: ml_collections.ConfigDict) -> Array:
  """Expected image size in pe: proportional to energy, times the lateral light density, with
  protons yielding `proton_light_fraction` of a gamma's light and fluctuating more."""
  gamma = primary.is_gamma
  fraction = jnp.where(gamma, 1.0, config.proton_light_fraction)
  spread = jnp.where(gamma, config.gamma_size_spread, config.proton_size_spread)
  mean = config.pe_per_tev * primary.energy_tev * lateral_light(primary.impact_m, config)
  return mean * fraction * _log_normal(z, spread)


def hillas_width_length(size: Array, disp: Array, is_gamma: Array, z: Array,
                        config: ml_collections.ConfigDict) -> tuple[Array, Array]:
  """Width and length (degrees): linear in log10(size) (the MAGIC/HESS scaled-width trend), the
  length also growing with the centroid distance (projection of the longitudinal profile)."""
  decades = jnp.log10(jnp.maximum(size, 10.0) / 100.0)
  width = config.width_deg + config.width_per_decade_deg * decades
  length = config.length_deg + config.length_per_decade_deg * decades
  length = length + config.length_per_disp * disp
  width = width * jnp.where(is_gamma, 1.0, config.proton_width_factor)
  length = length * jnp.where(is_gamma, 1.0, config.proton_length_factor)
  width = width * _log_normal(z[0], config.shape_spread)
  length = length * _log_normal(z[1], config.shape_spread)
  return jnp.maximum(width, 0.005), jnp.maximum(length, 0.005)


def _subshowers(centroid: Array, is_gamma: Array, u: Array, z: Array,
                config: ml_collections.ConfigDict) -> tuple[Array, Array]:
  """Positions (K, 2) and size fractions (K,) of proton sub-showers (electromagnetic cascades of
  pi0 decays off the main axis): each slot filled with `proton_subshower_probability`."""
  present = (u[:, 0] < config.proton_subshower_probability) & ~is_gamma
  fractions = jnp.where(present, config.subshower_max_fraction * u[:, 1], 0.0)
  positions = centroid + config.subshower_offset_deg * z
  return positions, fractions


def num_shower_uniforms(config: ml_collections.ConfigDict) -> int:
  """Uniforms per event for `sample_shower`: 7 for the primary, 6 + 2K turned into normals and 2K
  for the sub-shower slots (K = max_subshowers)."""
  return 13 + 4 * config.max_subshowers


def sample_shower(u: Array, config: ml_collections.ConfigDict) -> tuple[Primary, Shower]:
  """One primary and the parameters of its expected image, from `num_shower_uniforms` uniforms.

  Gammas: the centroid lies at disp = atan(impact / distance to Xmax) from the source along the
  impact azimuth and the major axis passes through the source (Hillas 1985; the DISP method,
  Lessard et al. 2001). Protons: the same geometry with a Gaussian tilt of the axis, a centroid
  jitter and sub-showers, as hadronic images are broader and irregular.
  """
  num_sub = config.max_subshowers
  z = _standard_normal(u[7:13 + 2 * num_sub])
  primary = sample_primary(u[:7], config)
  is_gamma = primary.is_gamma
  distance = distance_to_max_m(shower_max_depth(primary, config), config)
  disp = jnp.degrees(jnp.arctan(primary.impact_m / distance))
  azimuth = primary.impact_azimuth
  jitter = jnp.where(is_gamma, 0.0, config.proton_centroid_jitter_deg) * z[4:6]
  centroid = primary.direction + disp * jnp.stack([jnp.cos(azimuth), jnp.sin(azimuth)]) + jitter
  tilt = jnp.where(is_gamma, 0.0, math.radians(config.proton_tilt_deg)) * z[3]
  size = image_size(primary, z[0], config)
  width, length = hillas_width_length(size, disp, is_gamma, z[1:3], config)
  sub_u, sub_z = u[13 + 2 * num_sub:].reshape(num_sub, 2), z[6:].reshape(num_sub, 2)
  positions, fractions = _subshowers(centroid, is_gamma, sub_u, sub_z, config)
  shower = Shower(size=size, centroid=centroid, axis_angle=azimuth + tilt, length=length,
                  width=width, sub_positions=positions, sub_fractions=fractions)
  return primary, shower


def camera_coordinates(config: ml_collections.ConfigDict) -> np.ndarray:
  """Pixel-centre coordinates along one camera axis, degrees; 0 at the central pixel."""
  n = config.image_size
  return (np.arange(n, dtype=np.float32) - (n - 1) / 2) * config.pixel_size_deg


def _smoothed(sigma: Array, config: ml_collections.ConfigDict) -> Array:
  """A Gaussian sigma convolved with the PSF and a pixel (box of variance pixel^2 / 12), so that
  sampling the density at pixel centres approximates integrating it over the pixels."""
  return jnp.sqrt(sigma**2 + config.psf_deg**2 + config.pixel_size_deg**2 / 12.0)


def _split_normal_sigmas(length: Array, ratio: float) -> tuple[Array, Array]:
  """(head, tail) sigmas of a split normal whose standard deviation is `length`."""
  variance_per_head2 = (1.0 + ratio**2) / 2.0 - (2.0 / math.pi) * (ratio - 1.0)**2
  head = length / math.sqrt(variance_per_head2)
  return head, ratio * head


def _main_ellipse(shower: Shower, config: ml_collections.ConfigDict) -> Array:
  """Expected pe of the main ellipse: a split normal along the axis (compact head towards the
  source, long tail away; the image skewness of MAGIC's M3Long) times a normal across it."""
  coords = camera_coordinates(config)
  head, tail = _split_normal_sigmas(shower.length, config.tail_to_head_ratio)
  head, tail = _smoothed(head, config), _smoothed(tail, config)
  width = _smoothed(shower.width, config)
  cos, sin = jnp.cos(shower.axis_angle), jnp.sin(shower.axis_angle)
  mode = shower.centroid - math.sqrt(2.0 / math.pi) * (tail - head) * jnp.stack([cos, sin])
  dx, dy = coords - mode[0], coords - mode[1]
  along = dx[None, :] * cos + dy[:, None] * sin
  across = dy[:, None] * cos - dx[None, :] * sin
  inverse_sigma = jnp.where(along < 0.0, 1.0 / head, 1.0 / tail)
  density = jnp.exp(-0.5 * (jnp.square(along * inverse_sigma) + jnp.square(across / width)))
  main_size = shower.size * (1.0 - jnp.sum(shower.sub_fractions))
  return density * (main_size * config.pixel_size_deg**2 / (math.pi * (head + tail) * width))


def _subshower_blobs(shower: Shower, config: ml_collections.ConfigDict) -> Array:
  """Expected pe of the round sub-showers, as separable Gaussians (outer products, summed)."""
  coords = camera_coordinates(config)
  sigma = _smoothed(jnp.asarray(config.subshower_width_deg, jnp.float32), config)
  profile = jnp.exp(-0.5 * jnp.square((coords - shower.sub_positions[:, :, None]) / sigma))
  pe_per_fraction = shower.size * config.pixel_size_deg**2 / (2 * jnp.pi * sigma**2)
  x_profile = (shower.sub_fractions * pe_per_fraction)[:, None] * profile[:, 0]
  return jnp.sum(profile[:, 1, :, None] * x_profile[:, None, :], axis=0)


def expected_image(shower: Shower, config: ml_collections.ConfigDict) -> Array:
  """(n, n) expected shower photoelectrons per pixel; light falling off the camera is lost."""
  return _main_ellipse(shower, config) + _subshower_blobs(shower, config)


def _poisson_inverse_cdf(u: Array, rate: Array) -> tuple[Array, Array]:
  """Exact Poisson(rate) counts from uniforms (rate <= _EXACT_POISSON_MAX_RATE): the number n of
  k < _POISSON_TERMS with CDF(k) < u, unrolled into one fused elementwise loop, in units of
  exp(-rate) (u e^rate against partial sums of rate^k / k!, which keeps dependency chains short).
  Also returns the residual (u - CDF(n - 1)) / pmf(n), a uniform independent of n (the position
  of u inside its CDF step), which then draws the charge noise without another random number."""
  target = u * jnp.exp(rate)
  term = jnp.ones_like(rate)
  partial_sum, lower, step = term, jnp.zeros_like(rate), term
  count = jnp.zeros_like(rate)
  for k in range(1, _POISSON_TERMS + 1):
    above = target > partial_sum
    term = term * (rate * (1.0 / k))
    count = count + above
    lower = jnp.where(above, partial_sum, lower)
    step = jnp.where(above, term, step)
    partial_sum = partial_sum + term
  return count, (target - lower) / step


def sample_charges(u: Array, expected: Array, config: ml_collections.ConfigDict) -> Array:
  """Pedestal-subtracted pixel charges (pe) from one uniform per pixel.

  Photoelectrons are Poisson(shower + NSB) (sum of independent Poisson processes), each with a
  Gaussian charge of sigma s = `single_pe_resolution`, plus Gaussian electronic noise of sigma e;
  the NSB mean (the pedestal) is subtracted. Up to _EXACT_POISSON_MAX_RATE the count n is exact
  and its residual uniform draws the N(n, n s^2 + e^2) charge; above, the charge is a
  Cornish-Fisher normal with the exact mean rate, variance rate (1 + s^2) + e^2 and third
  cumulant rate (1 + 3 s^2), drawn from the uniform itself.
  """
  s2, e2 = config.single_pe_resolution**2, config.electronic_noise_pe**2
  rate = expected + config.nsb_rate_pe
  exact_rate = rate <= _EXACT_POISSON_MAX_RATE
  count, residual = _poisson_inverse_cdf(u, jnp.minimum(rate, _EXACT_POISSON_MAX_RATE))
  z = _standard_normal(jnp.where(exact_rate, residual, u))
  exact = count + jnp.sqrt(count * s2 + e2) * z
  variance = rate * (1.0 + s2) + e2
  skew = rate * (1.0 + 3.0 * s2) / (6.0 * variance)
  approx = rate + jnp.sqrt(variance) * z + skew * (jnp.square(z) - 1.0)
  return jnp.where(exact_rate, exact, approx) - config.nsb_rate_pe


def camera(config: ml_collections.ConfigDict) -> camera_lib.Camera:
  """The simulated camera: its pixel size and the tailcut levels of `config`."""
  return camera_lib.Camera(float(config.pixel_size_deg), float(config.tailcut_picture_pe),
                           float(config.tailcut_boundary_pe))


def primary_labels(primary: Primary) -> dict[str, Array]:
  """An event's labels: `particletype` int32, `energy` log10(E / TeV), `direction` (.., 2) deg."""
  return {
      'particletype': jnp.where(primary.is_gamma, GAMMA, PROTON).astype(jnp.int32),
      'energy': jnp.log10(primary.energy_tev).astype(jnp.float32),
      'direction': primary.direction.astype(jnp.float32),
  }


def simulate_event(key: Array, config: ml_collections.ConfigDict) -> tuple[Array, dict[str, Array]]:
  """One event: image (n, n, 1) float32 in pe and labels (`particletype` int32 scalar, `energy`
  log10(E / TeV) scalar, `direction` (2,) degrees). The function `simulate` vmaps; traceable, with
  `config` static (to jit it alone: `jax.jit(simulate_event, static_argnums=1)` and a
  FrozenConfigDict)."""
  shower_u, pixel_u = event_uniforms(key, config)
  primary, shower = sample_shower(shower_u, config)
  image = sample_charges(pixel_u, expected_image(shower, config), config)
  if config.tailcut:
    mask = camera_lib.tailcut_mask(image, config.tailcut_picture_pe, config.tailcut_boundary_pe)
    image = jnp.where(mask, image, 0.0)
  return image[..., None].astype(jnp.float32), primary_labels(primary)


def simulate_events(key: Array, indices: Array,
                    config: ml_collections.ConfigDict) -> tuple[Array, dict[str, Array]]:
  """Events `indices` ((B,) integers) of the stream `key`, event n drawn from fold_in(key, n):
  `simulate`'s events, traceable (e.g. inside a training step), with `config` static."""
  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, indices)
  return jax.vmap(simulate_event, (0, None))(keys, config)


@functools.partial(jax.jit, static_argnames=('config',))
def _simulate_chunk(key: Array, start: Array,
                    config: ml_collections.FrozenConfigDict) -> tuple[Array, dict[str, Array]]:
  """Events start .. start + chunk_size - 1."""
  return simulate_events(key, start + jnp.arange(config.chunk_size, dtype=jnp.int32), config)


def _check_config(config: ml_collections.ConfigDict) -> None:
  """Rejects parameter values the simulator cannot honour, naming the field."""
  checks = {
      'energy_min_tev': 0 < config.energy_min_tev < config.energy_max_tev,
      'gamma_fraction': 0.0 <= config.gamma_fraction <= 1.0,
      'nsb_rate_pe': config.nsb_rate_pe >= 0.0,
      'electronic_noise_pe': config.electronic_noise_pe >= 0.0,
      'tailcut_boundary_pe': config.tailcut_boundary_pe <= config.tailcut_picture_pe,
      'chunk_size': config.chunk_size >= 1,
      'image_size': config.image_size >= 3,
      'max_subshowers': config.max_subshowers >= 1,
  }
  for field, ok in checks.items():
    if not ok:
      raise ValueError(f'toy_iact config: invalid {field} in {dict(config)}')


def simulate(key: Array, num: int,
             config: ml_collections.ConfigDict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """`num` labelled events: images (num, n, n, 1) float32 pe and labels as `simulate_event`'s,
  stacked. Bitwise deterministic in (key, num, config); chunks are dispatched one ahead of the
  host copy, the last one padded and cut, with one compiled function for every chunk."""
  frozen = ml_collections.FrozenConfigDict(config)
  _check_config(frozen)
  n = frozen.image_size
  images = np.empty((num, n, n, 1), np.float32)
  labels = {'particletype': np.empty((num,), np.int32), 'energy': np.empty((num,), np.float32),
            'direction': np.empty((num, 2), np.float32)}

  def store(start: int, chunk: tuple[Array, dict[str, Array]]) -> None:
    stop = min(start + frozen.chunk_size, num)
    images[start:stop] = np.asarray(chunk[0])[:stop - start]
    for name, values in chunk[1].items():
      labels[name][start:stop] = np.asarray(values)[:stop - start]

  pending = None
  for start in range(0, num, frozen.chunk_size):
    chunk = _simulate_chunk(key, start, frozen)
    if pending is not None:
      store(*pending)
    pending = (start, chunk)
  if pending is not None:
    store(*pending)
  return images, labels


# Command line: `python -m jaxgan.data.toy_iact --output=toy.h5` (see the module docstring).
# Imported here, after the simulator, to keep its definitions first; hdf5 imports no jaxgan
# module but `labels`, so there is no import cycle.
import importlib.metadata  # noqa: E402  pylint: disable=g-import-not-at-top,g-bad-import-order
import json  # noqa: E402  pylint: disable=g-import-not-at-top,g-bad-import-order
import time  # noqa: E402  pylint: disable=g-import-not-at-top,g-bad-import-order
from typing import Sequence  # noqa: E402  pylint: disable=g-import-not-at-top,g-bad-import-order

from absl import app  # noqa: E402  pylint: disable=g-import-not-at-top
from absl import flags  # noqa: E402  pylint: disable=g-import-not-at-top
from absl import logging  # noqa: E402  pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # noqa: E402  pylint: disable=g-import-not-at-top

from jaxgan.data import hdf5  # noqa: E402  pylint: disable=g-import-not-at-top


def _jaxgan_version() -> str:
  try:
    return importlib.metadata.version('jaxgan')
  except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
    return 'unknown'


def _simulate_range(key: Array, start: int, stop: int, config: ml_collections.FrozenConfigDict
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Events start .. stop - 1 exactly as `simulate(key, num >= stop, config)` gives them: `start`
  is a multiple of `chunk_size`, so the chunks are those of `simulate`, by the same function."""
  chunks = jax.device_get([_simulate_chunk(key, chunk_start, config)
                           for chunk_start in range(start, stop, config.chunk_size)])
  images = np.concatenate([chunk[0] for chunk in chunks])[:stop - start]
  labels = {name: np.concatenate([chunk[1][name] for chunk in chunks])[:stop - start]
            for name in chunks[0][1]}
  return images, labels


def simulate_to_file(path: str, num: int, seed: int, config: ml_collections.ConfigDict,
                     piece_size: int = 16_384) -> None:
  """Simulates `num` events into a jaxgan HDF5 file, piece by piece (bounded memory).

  The file holds exactly `simulate(jax.random.key(seed), num, config)` (bit for bit; pieces are
  rounded up to whole `config.chunk_size` chunks), its provenance the config, seed and versions.

  Args:
    path: the file to write (atomically, `jaxgan.data.hdf5.append_writer`).
    num: number of events, >= 1.
    seed: the simulation seed.
    config: simulator parameters (`default_config()` with overrides).
    piece_size: events simulated and written at a time.
  """
  frozen = ml_collections.FrozenConfigDict(config)
  _check_config(frozen)
  piece = -(-max(piece_size, 1) // frozen.chunk_size) * frozen.chunk_size
  provenance = {
      'simulator': 'jaxgan.data.toy_iact', 'jaxgan_version': _jaxgan_version(),
      'jax_version': jax.__version__, 'seed': seed, 'num': num,
      'config': json.loads(frozen.to_json()),
      'events': 'toy_iact.simulate(jax.random.key(seed), num, config): event n from '
                'jax.random.fold_in(key, n)'}
  shape = (frozen.image_size, frozen.image_size, 1)
  key, begin = jax.random.key(seed), time.monotonic()
  with hdf5.append_writer(path, shape, camera=camera(frozen), provenance=provenance,
                          source='toy_iact') as writer:
    for start in range(0, num, piece):
      stop = min(start + piece, num)
      writer.append(*_simulate_range(key, start, stop, frozen))
      rate = stop / max(time.monotonic() - begin, 1e-9)
      logging.info('%d/%d events | %.0f events/s | ETA %.0fs', stop, num, rate,
                   (num - stop) / rate)
  logging.info('Wrote %s', path)


def _define_flags() -> None:
  """The flags of `main`; defined only when this module is the program, so that importing the
  simulator adds no flags to other programs."""
  flags.DEFINE_string('output', None, 'The HDF5 file to write (jaxgan.data.hdf5 format).',
                      required=True)
  flags.DEFINE_integer('num', 100_000, 'Number of events.', lower_bound=1)
  flags.DEFINE_integer('seed', 0, 'Simulation seed: the file equals '
                       'simulate(jax.random.key(seed), num, config).')
  flags.DEFINE_integer('piece_size', 16_384, 'Events simulated and written at a time (rounded '
                       'up to whole --sim.chunk_size chunks).', lower_bound=1)
  config_flags.DEFINE_config_dict('sim', default_config(), 'Simulator parameters; override any '
                                  'field as --sim.<field>=<value>.', lock_config=True)


def main(argv: Sequence[str]) -> None:
  """Writes the file the flags describe (`simulate_to_file`)."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  values = flags.FLAGS
  simulate_to_file(values.output, values.num, values.seed, values.sim,
                   piece_size=values.piece_size)


if __name__ == '__main__':
  _define_flags()
  app.run(main)
