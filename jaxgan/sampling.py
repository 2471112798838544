"""Fixed-noise sample grids that show whether the generator follows its labels.

The grid has one row per (particle type, energy) pair and one column per arrival direction:
rows go gamma then proton, each from low to high energy (quartiles of the training energies);
columns turn the direction around the camera centre at a fixed offset. Each cell has its own
fixed latent vector, drawn once from the run's seed, so grids from different steps compare
directly: a trained generator shows brightness growing down each block of rows and the shower
axis turning with the columns, pointing back to the labelled source, which a cyan cross marks in
each cell. `samples/reference.png` shows, in each cell, the training image whose labels are
closest to the cell's: what the grid should look like.

The same two effects are measured after tailcut cleaning (`label_response`) on a larger probe
set: generated images for the labels of the first `NUM_PROBE` validation examples (fixed
latents), logged as `generated_*`, against those validation images themselves, logged once at
step 0 as `validation_*`: the correlation between log10 energy and log10 image size, and the
median alpha of the gammas (the angle between the image axis and the direction to the labelled
source: a few degrees when the axis follows the label, ~45 when it ignores it), and the gammas'
median Hillas length and width (degrees): whether the showers are the data's thin ellipses, whose
axis is defined well enough to point anywhere. The gamma medians are over the gammas with light
after cleaning, `gamma_light_fraction` of them (a faint generator's medians rest on few images).
"""

import os

import flax.linen as nn
import jax
import numpy as np

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan.data.pipeline import Normalisation
from jaxgan.data.split import Split
from jaxgan.evaluation import hillas
from jaxgan.models import source_frame

NUM_ENERGIES = 4
NUM_DIRECTIONS = 8
NUM_PROBE = 512


def grid_labels(train: Split) -> dict[str, np.ndarray]:
  """Labels of the grid cells, row-major: (particle type, energy) rows x direction columns."""
  energies = np.quantile(train.labels['energy'], np.linspace(0.125, 0.875, NUM_ENERGIES))
  offset = float(np.quantile(np.linalg.norm(train.labels['direction'], axis=-1), 0.5))
  angles = np.linspace(0, 2 * np.pi, NUM_DIRECTIONS, endpoint=False)
  directions = offset * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  types = np.array([1, 0])  # gamma rows first
  particletype, energy, direction = np.meshgrid(types, energies, np.arange(NUM_DIRECTIONS),
                                                indexing='ij')
  return {'particletype': particletype.ravel().astype(np.int32),
          'energy': energy.ravel().astype(np.float32),
          'direction': directions[direction.ravel()].astype(np.float32)}


def nearest_examples(train: Split, labels: dict[str, np.ndarray]) -> np.ndarray:
  """Index of the training example of the same particle type closest in (energy, direction)."""
  def features(l):
    return np.concatenate([l['energy'][:, None], l['direction']], axis=-1)
  train_features, cell_features = features(train.labels), features(labels)
  spread = train_features.std(axis=0) + 1e-12
  distance = np.linalg.norm((cell_features[:, None] - train_features[None]) / spread, axis=-1)
  distance[labels['particletype'][:, None] != train.labels['particletype'][None]] = np.inf
  return np.argmin(distance, axis=1)


def label_response(images: np.ndarray, labels: dict[str, np.ndarray],
                   camera: camera_lib.Camera) -> dict[str, float]:
  """How much images (photoelectrons) follow their labels, measured after `camera`'s cleaning:
  see the module docstring."""
  params = hillas.hillas_parameters(hillas.cleaned(images, camera.picture, camera.boundary),
                                    camera.pixel_size_deg)
  log_size = np.log10(1.0 + np.asarray(params.size))
  constant = np.ptp(log_size) == 0  # e.g. no light survives cleaning: no correlation to speak of
  correlation = 0.0 if constant else np.corrcoef(labels['energy'], log_size)[0, 1]
  response = {'size_energy_correlation': float(correlation)}
  labelled_gammas = labels['particletype'] == 1
  gammas = labelled_gammas & (np.asarray(params.size) > 0)
  if labelled_gammas.any():
    response['gamma_light_fraction'] = float(gammas.sum() / labelled_gammas.sum())
  if gammas.any():
    alpha = np.asarray(hillas.alpha_deg(params, labels['direction']))
    response['gamma_median_alpha_deg'] = float(np.median(alpha[gammas]))
    response['gamma_median_length_deg'] = float(np.median(np.asarray(params.length)[gammas]))
    response['gamma_median_width_deg'] = float(np.median(np.asarray(params.width)[gammas]))
  return response


def source_pixels(direction: np.ndarray, pixel_size_deg: float, image_size: int) -> np.ndarray:
  """(N, 2) fractional (row, column) of the sources (N, 2) (x, y degrees) on the camera image
  (`jaxgan.camera`'s coordinates: x along the columns, y along the rows, 0 at the centre)."""
  cols, rows = source_frame.source_pixel(np.asarray(direction), pixel_size_deg,
                                         source_frame.camera_centre(image_size, image_size))
  return np.stack([rows, cols], axis=-1)


class GridSampler:
  """Generates the fixed grid and the probe set from a state; writes PNGs and the label response.

  Args:
    generator: the generator module (no pmap axis).
    latent_dim: size of z.
    label_dim: size of the generator's label input (0: unconditional; labels are ignored).
    train, validation: the splits (grid labels and reference from train, probe from validation).
    seed: seed of the fixed latents.
    camera: the data's camera (pixel size and tailcut levels).
  """

  def __init__(self, generator: nn.Module, latent_dim: int, label_dim: int, train: Split,
               validation: Split, seed: int, camera: camera_lib.Camera):
    self.labels = grid_labels(train)
    self.camera = camera
    self.reference = train.take(nearest_examples(train, self.labels)).images
    self.probe = validation.take(np.arange(min(NUM_PROBE, len(validation))))
    key = jax.random.fold_in(jax.random.key(seed), 0x5A3)

    def sampler(labels, key):
      latents = jax.random.normal(key, (len(labels['energy']), latent_dim))
      label_vector = labels_lib.label_vector(labels, labels_lib.TELESCOPE)[:, :label_dim]
      return jax.jit(lambda variables: generator.apply(variables, latents, label_vector,
                                                       train=False))

    self._generate_grid = sampler(self.labels, key)
    self._generate_probe = sampler(self.probe.labels, jax.random.fold_in(key, 1))

  def images(self, state, normalisation: Normalisation) -> np.ndarray:
    """The grid's images, in physical units."""
    return normalisation.inverse(self._generate_grid(state.sampling_variables))

  def write(self, state, step: int, workdir: str, writer: logs.MetricWriter,
            normalisation: Normalisation) -> dict[str, float]:
    """Saves `<workdir>/samples/step_<step>.png` (reference.png once) and logs the probe's
    label response; returns that response."""
    reference_path = os.path.join(workdir, 'samples', 'reference.png')
    if not os.path.exists(reference_path):
      logs.save_png(reference_path, self._grid(self.reference, normalisation.scale))
      writer.write_scalars(0, self._response('validation', self.probe.images,
                                             self.probe.labels))
    rgb = self._grid(self.images(state, normalisation), normalisation.scale)
    logs.save_png(os.path.join(workdir, 'samples', f'step_{step:07d}.png'), rgb)
    writer.write_image(step, 'samples', rgb)
    generated = normalisation.inverse(self._generate_probe(state.sampling_variables))
    response = self._response('generated', generated, self.probe.labels)
    writer.write_scalars(step, response)
    return response

  def _response(self, prefix: str, images: np.ndarray,
                labels: dict[str, np.ndarray]) -> dict[str, float]:
    response = label_response(np.asarray(images), labels, self.camera)
    return {f'{prefix}_{name}': value for name, value in response.items()}

  def _grid(self, images: np.ndarray, image_scale: float) -> np.ndarray:
    """Both grids share the reference's brightness scale, so they compare directly; a cyan
    cross marks each cell's labelled source (where a gamma's axis should point)."""
    return logs.image_grid(images, columns=NUM_DIRECTIONS, softening=image_scale,
                           vmax=float(self.reference.max()),
                           markers=source_pixels(self.labels['direction'],
                                                 self.camera.pixel_size_deg, images.shape[1]))
