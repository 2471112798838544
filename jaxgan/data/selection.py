"""The source's event selection for telescope data: one particle type, and cuts on the cleaned
image's intensity and leakage.

The source (sgh14/CTGANs, config_files/GANs-gamma.yml) trains one GAN per particle type on events
with `hillas_intensity >= 200` pe and `leakage_intensity_width_2 <= 0.1`, computed by ctapipe on
the cleaned image of the hexagonal camera. Here, on the square camera image:
  intensity  the charge of the pixels that survive the camera's tailcut cleaning, pe;
  leakage    the share of that charge in the pixels within `LEAKAGE_WIDTH` (2) pixels of the
             image's edge (0 for an image with nothing left after cleaning).
Config fields: `data.particle`, `data.min_intensity_pe`, `data.max_leakage`; the selection keeps
the events that pass all three, in their order, and applies to both splits. Selected images are
read into memory (an HDF5 split's too).
"""

import numpy as np

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan.data.split import Split

LEAKAGE_WIDTH = 2  # pixels: ctapipe's leakage_intensity_width_2
BLOCK = 4096  # images measured at once


def is_active(data_config) -> bool:
  """Whether the config asks for any selection (a data config without the fields asks none)."""
  return bool(data_config.get('particle') or data_config.get('min_intensity_pe', 0) > 0
              or data_config.get('max_leakage', 1) < 1)


def intensity_and_leakage(images: np.ndarray,
                          camera: camera_lib.Camera) -> tuple[np.ndarray, np.ndarray]:
  """(N,) cleaned intensity (pe) and leakage of (N, H, W, 1) images in photoelectrons."""
  charge = np.asarray(images, np.float32)[..., 0]
  cleaned = np.where(camera_lib.tailcut_mask(charge, camera.picture, camera.boundary), charge, 0)
  edge = np.ones(charge.shape[1:], bool)
  edge[LEAKAGE_WIDTH:-LEAKAGE_WIDTH, LEAKAGE_WIDTH:-LEAKAGE_WIDTH] = False
  intensity = cleaned.sum((1, 2))
  leaked = cleaned[:, edge].sum(1)
  return intensity, np.divide(leaked, intensity, out=np.zeros_like(intensity),
                              where=intensity > 0)


def selected(split: Split, data_config, camera: camera_lib.Camera) -> Split:
  """The events of `split` that pass the config's selection (module docstring)."""
  keep = np.ones(len(split), bool)
  if data_config.particle:
    keep &= split.labels['particletype'] == labels_lib.PARTICLE_NAMES.index(data_config.particle)
  for start in range(0, len(split), BLOCK):
    intensity, leakage = intensity_and_leakage(split.images[start:start + BLOCK], camera)
    keep[start:start + BLOCK] &= ((intensity >= data_config.min_intensity_pe)
                                  & (leakage <= data_config.max_leakage))
  return split.take(np.flatnonzero(keep))


def check(data_config, camera: camera_lib.Camera | None) -> None:
  """Fails, naming the field, for a selection the data cannot make."""
  if data_config.particle and data_config.particle not in labels_lib.PARTICLE_NAMES:
    raise ValueError(f'data.particle={data_config.particle!r}; choose one of '
                     f"{labels_lib.PARTICLE_NAMES} or '' (all)")
  if camera is None:
    raise ValueError(f'data.particle, data.min_intensity_pe and data.max_leakage select telescope '
                     f'events; data.name={data_config.name!r} has none')
  if data_config.online_simulation:
    raise ValueError('data.online_simulation simulates unselected events in the step: it cannot '
                     'be combined with data.particle, data.min_intensity_pe or data.max_leakage')
