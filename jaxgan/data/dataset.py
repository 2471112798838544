"""The registry of datasets, looked up by `data.name`: each entry describes its dataset.

Each entry is a `Dataset`: a loader `data_config -> (train, validation)` of `Split`s, with images
in physical units (photoelectrons for telescope data); its labels (`jaxgan.labels.LabelSpec`);
its sample grid (`SampleGrid`: which sampler shows its samples, `jaxgan.image_samplers.SAMPLERS`);
its camera where it has one (`camera_of`: pixel size and cleaning levels, for the samples and
the evaluation); and its online simulator where it has one (`data.online_simulation`). The
training loop, the evaluation and the models ask the entry and know no dataset by name: a new
dataset is a loader here (or in its own file) and an entry in `DATASETS`.

Normalisation for the networks happens in `jaxgan.data.pipeline`, not here. Datasets hold out
their last `data.validation_fraction` (`split_train_validation`; hdf5 only without
`data.validation_path`). The examples of image_folder, digits and the Gaussian mixtures are
already network inputs (images in [-1, 1] for a tanh generator; points): use them with
data.transform='linear' and data.image_scale=1.0, the identity.

  toy_iact      simulated telescope events (`toy_iact.py`), labels particletype/energy/direction
  hdf5          telescope events in the jaxgan HDF5 format (`hdf5.py`), the same labels
  image_folder  RGB photographs (`images.py`): the folder `data.path`, or crops of built-in
                photographs when it is ''; (N, S, S, 3) in [-1, 1], S = data.image_size; no labels
  digits        scikit-learn's 1,797 handwritten digits (`pilots.py`): (N, 8, 8, 1) in [-1, 1],
                label `digit`
  gaussian_grid 25 Gaussians on a 5x5 grid (`pilots.py`): (N, 1, 1, 2) points, label `mode`
  gaussian_ring 8 Gaussians on a ring (`pilots.py`): the same
"""

from typing import Callable, NamedTuple

import jax
import ml_collections
from absl import logging
import numpy as np

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan.data import hdf5
from jaxgan.data import images
from jaxgan.data import pilots
from jaxgan.data import selection
from jaxgan.data import toy_iact
from jaxgan.data.split import Split
from jaxgan.data.split import split_train_validation


def _hold_out(data_config, examples: np.ndarray, labels: dict) -> tuple[Split, Split]:
  """(train, validation) of in-memory examples: the last `data.validation_fraction` held out."""
  return split_train_validation(Split(examples, labels), data_config.validation_fraction)


def _load_toy_iact(data_config) -> tuple[Split, Split]:
  examples, labels = toy_iact.simulate(jax.random.key(data_config.seed),
                                       data_config.num_examples, data_config.toy_iact)
  return _hold_out(data_config, examples, labels)


def _load_hdf5(data_config) -> tuple[Split, Split]:
  """`data.path` (training split) and `data.validation_path`, in the jaxgan HDF5 format.

  Images stay on disk and are read per batch. Without a validation file, the last
  `data.validation_fraction` of the training file is held out, its images still on disk (two
  `LazyImages.rows` views of the one open file).
  """
  if not data_config.path:
    raise ValueError("data.name='hdf5' needs data.path, the training split's file")
  if data_config.validation_path:
    _check_same_camera(data_config.path, data_config.validation_path)
    return hdf5.open_split(data_config.path), hdf5.open_split(data_config.validation_path)
  logging.info('No data.validation_path: holding out the last %.0f%% of %s (kept on disk)',
               100 * data_config.validation_fraction, data_config.path)
  return split_train_validation(hdf5.open_split(data_config.path),
                                data_config.validation_fraction)


def _check_same_camera(train_path: str, validation_path: str) -> None:
  """Fails, naming both files, unless the validation file's images have the training file's
  shape, pixel size and tailcut levels."""
  train, validation = hdf5.read_metadata(train_path), hdf5.read_metadata(validation_path)
  for name in ('image_shape', 'pixel_size_deg', *hdf5.TAILCUT_ATTRIBUTES):
    if train.get(name) != validation.get(name):
      raise ValueError(f'data.validation_path={validation_path!r} has {name} '
                       f'{validation.get(name)}, but the training file data.path={train_path!r} '
                       f'has {train.get(name)}: both splits must come from one camera')


def _toy_iact_camera(data_config) -> camera_lib.Camera:
  """The simulated camera of `data.toy_iact`."""
  return toy_iact.camera(data_config.toy_iact)


def _hdf5_camera(data_config) -> camera_lib.Camera:
  """The camera of the training file `data.path`, from its attributes; tailcut levels it lacks
  are the toy telescope's (with a warning: `hdf5.read_camera`)."""
  return hdf5.read_camera(data_config.path, toy_iact.camera(toy_iact.default_config()))


def _toy_iact_simulator(data_config) -> Callable[[jax.Array], tuple[jax.Array, dict]]:
  """Event numbers -> (images in pe, labels) of those events of the `data.seed` stream of
  `data.toy_iact`, traceable inside the training step."""
  simulator = ml_collections.FrozenConfigDict(data_config.toy_iact)

  def simulate(events: jax.Array) -> tuple[jax.Array, dict]:
    return toy_iact.simulate_events(jax.random.key(data_config.seed), events, simulator)

  return simulate


def _load_image_folder(data_config) -> tuple[Split, Split]:
  """Unlabelled photographs (`images.load_images`): `data.path`, or built-in crops if it is ''.

  The folder's images in sorted path order, or `data.num_examples` crops drawn from `data.seed`;
  side `data.image_size` (64 when the config has no such field).
  """
  return _hold_out(data_config, images.load_images(data_config), {})


def _load_digits(data_config) -> tuple[Split, Split]:
  """All 1,797 digits in scikit-learn's order (data.num_examples and data.seed are unused)."""
  examples, digits = pilots.digits()
  return _hold_out(data_config, examples, {'digit': digits})


def _load_mixture(data_config) -> tuple[Split, Split]:
  """`data.num_examples` points of the mixture `data.name`, drawn from `data.seed`."""
  points, modes = pilots.mixture_points(pilots.MIXTURES[data_config.name],
                                        data_config.num_examples, data_config.seed)
  return _hold_out(data_config, points, {'mode': modes})


class SampleGrid(NamedTuple):
  """How a dataset's samples are shown during training.

  Attributes:
    kind: the sampler (`jaxgan.image_samplers.SAMPLERS`): 'telescope' (a grid of particle type
      and energy by direction, with the camera's label response: `jaxgan.sampling`), 'images'
      (a grid of pictures in [-1, 1], a row per class) or 'points' (2-d points shaped
      (N, 1, 1, 2) over the data, with the mixture's mode metrics).
    mixture: for 'points', the Gaussian mixture the points come from.
  """
  kind: str
  mixture: pilots.Mixture | None = None


class Dataset(NamedTuple):
  """A registered dataset.

  Attributes:
    load: data_config -> (train, validation) splits.
    labels: what its labels are.
    grid: how its samples are shown.
    camera: data_config -> its `camera.Camera` (pixel size, cleaning levels); None for data
      without a camera, which have no Hillas evaluation.
    simulator: data_config -> a traceable function of event numbers giving (images in physical
      units, labels) of those events, for `data.online_simulation`; None where it cannot be
      simulated during training.
  """
  load: Callable[..., tuple[Split, Split]]
  labels: labels_lib.LabelSpec
  grid: SampleGrid
  camera: Callable[..., camera_lib.Camera] | None = None
  simulator: Callable[..., Callable] | None = None


TELESCOPE_GRID = SampleGrid('telescope')
DATASETS: dict[str, Dataset] = {
    'toy_iact': Dataset(_load_toy_iact, labels_lib.TELESCOPE, TELESCOPE_GRID, _toy_iact_camera,
                        _toy_iact_simulator),
    'hdf5': Dataset(_load_hdf5, labels_lib.TELESCOPE, TELESCOPE_GRID, _hdf5_camera),
    'image_folder': Dataset(_load_image_folder, (), SampleGrid('images')),
    'digits': Dataset(_load_digits, (labels_lib.Label('digit', num_classes=10),),
                      SampleGrid('images')),
    **{name: Dataset(_load_mixture, (labels_lib.Label('mode', num_classes=len(mixture.means)),),
                     SampleGrid('points', mixture)) for name, mixture in pilots.MIXTURES.items()},
}


def get_dataset(name: str) -> Dataset:
  """The dataset registered as `data.name`, failing with the list of known names."""
  if name not in DATASETS:
    raise ValueError(f'data.name={name!r} is unknown; choose one of {sorted(DATASETS)}')
  return DATASETS[name]


def load_splits(data_config) -> tuple[Split, Split]:
  """(train, validation) splits of the dataset named `data_config.name`, with the events that
  `data.particle`, `data.min_intensity_pe` and `data.max_leakage` select (`selection`)."""
  splits = get_dataset(data_config.name).load(data_config)
  if not selection.is_active(data_config):
    return splits
  camera = camera_of(data_config)
  selection.check(data_config, camera)
  chosen = tuple(selection.selected(split, data_config, camera) for split in splits)
  logging.info('Selected %s of %s training and %s of %s validation events',
               len(chosen[0]), len(splits[0]), len(chosen[1]), len(splits[1]))
  return chosen


def camera_of(data_config) -> camera_lib.Camera | None:
  """The camera of the dataset `data_config` describes (for HDF5 data, of its training file);
  None when it has none."""
  camera = get_dataset(data_config.name).camera
  return camera(data_config) if camera else None


def simulator_of(data_config) -> Callable[[jax.Array], tuple[jax.Array, dict]]:
  """The online simulator of the dataset `data_config` describes (`Dataset.simulator`), failing
  for a dataset that has none."""
  simulator = get_dataset(data_config.name).simulator
  if simulator is None:
    raise ValueError(f'data.online_simulation=True: data.name={data_config.name!r} cannot be '
                     'simulated during training; choose one of '
                     f'{sorted(name for name, entry in DATASETS.items() if entry.simulator)}')
  return simulator(data_config)
