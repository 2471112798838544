"""Shared test fixtures: a tiny CTGAN config that trains in seconds on CPU, a tinier one, the
predictor its runs would train for themselves, and analytic Gaussian-ellipse camera images."""

import os

import ml_collections
import numpy as np

from experiments import mixture2d
from jaxgan import assembly
from jaxgan import configs


def tiny_config(**train_overrides) -> ml_collections.ConfigDict:
  """The base config shrunk to toy widths, 128 simulated events, 1 device, 2 critic updates."""
  config = configs.telescope()
  config.data.num_examples = 160
  config.model.latent_dim = 8
  config.model.generator_base_shape = (3, 3, 8)
  config.model.generator_features = (8, 4, 4, 1)
  config.model.critic_features = (4, 4, 8, 8)
  config.predictor.stage_widths = (4, 8)
  config.predictor.blocks_per_stage = (1, 1)
  config.predictor.num_steps = 4
  config.predictor.batch_size = 32
  config.train.batch_size = 8
  config.train.n_critic = 2
  config.train.num_steps = 2
  config.train.num_devices = 1
  config.train.log_every = 1
  config.train.sample_every = 2
  config.train.checkpoint_every = 2
  config.train.update(train_overrides)
  return config


def tiny_mixture_config(**train_overrides) -> ml_collections.ConfigDict:
  """The 2-D mixture pilot with 16-unit networks, 64 points and a gradient penalty: a run that
  compiles in seconds, for tests that start several processes."""
  config = mixture2d.get_config()
  config.data.num_examples = 64
  config.model.generator_features = (16, 16, 2)
  config.model.critic_features = (16, 16)
  config.loss.update(penalty='gp')
  config.train.update(batch_size=8, num_steps=2, num_devices=1, log_every=1, sample_every=2,
                      checkpoint_every=1)
  config.train.update(train_overrides)
  return config


def saved_tiny_predictor(workdir: str) -> str:
  """Trains the predictor that a tiny run with `predictor.num_steps=1` trains for itself (same
  data, config and seed: the same weights) into `workdir`; returns its directory, for
  `predictor.checkpoint` (runs that load it skip compiling and running the predictor's
  training)."""
  config = tiny_config()
  config.predictor.num_steps = 1
  assembly.prepare_predictor(config, assembly.load_data(config.data, workdir), workdir)
  return os.path.join(workdir, 'predictor')


def gaussian_ellipse(x0, y0, length, width, psi, size=1000.0, pixel=0.1, side=43):
  """A noise-free (side, side) camera image: a Gaussian ellipse of `size` pe centred at (x0, y0)
  degrees, sigma `length` along the axis at angle `psi` and `width` across it (toy_iact's camera
  coordinates: x along the columns, y along the rows, 0 at the central pixel)."""
  coords = (np.arange(side) - (side - 1) / 2) * pixel
  x, y = np.meshgrid(coords, coords)
  u = (x - x0) * np.cos(psi) + (y - y0) * np.sin(psi)
  v = -(x - x0) * np.sin(psi) + (y - y0) * np.cos(psi)
  image = np.exp(-0.5 * (u / length) ** 2 - 0.5 * (v / width) ** 2)
  return size * image / image.sum()
