"""The registry of datasets, looked up by `data.name`.

A dataset module exposes `load_splits(data_config) -> (train, validation)` of `Split`s, with
images in physical units (photoelectrons for telescope data). Normalisation for the networks
happens in `jaxgan.data.pipeline`, not here.
"""

from typing import Callable

import jax
from absl import logging

from jaxgan.data import hdf5
from jaxgan.data import toy_iact
from jaxgan.data.split import Split
from jaxgan.data.split import split_train_validation


def _load_toy_iact(data_config) -> tuple[Split, Split]:
  images, labels = toy_iact.simulate(jax.random.key(data_config.seed), data_config.num_examples,
                                     data_config.toy_iact)
  return split_train_validation(Split(images, labels), data_config.validation_fraction)


def _load_hdf5(data_config) -> tuple[Split, Split]:
  """`data.path` (training split) and `data.validation_path`, in the jaxgan HDF5 format.

  Images stay on disk and are read per batch. Without a validation file, the last
  `data.validation_fraction` of the training file is held out; that reads the file into memory,
  so give a separate validation file for sets larger than memory.
  """
  if not data_config.path:
    raise ValueError("data.name='hdf5' needs data.path, the training split's file")
  if data_config.validation_path:
    return hdf5.open_split(data_config.path), hdf5.open_split(data_config.validation_path)
  logging.info('No data.validation_path: holding out the last %.0f%% of %s (read into memory)',
               100 * data_config.validation_fraction, data_config.path)
  return split_train_validation(hdf5.read(data_config.path), data_config.validation_fraction)


DATASETS: dict[str, Callable[..., tuple[Split, Split]]] = {
    'toy_iact': _load_toy_iact,
    'hdf5': _load_hdf5,
}


def load_splits(data_config) -> tuple[Split, Split]:
  """(train, validation) splits of the dataset named `data_config.name`."""
  if data_config.name not in DATASETS:
    raise ValueError(f'data.name={data_config.name!r} is unknown; choose one of {sorted(DATASETS)}')
  return DATASETS[data_config.name](data_config)
