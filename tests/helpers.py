"""Shared test fixtures: a tiny CTGAN config that trains in seconds on CPU."""

import ml_collections

from jaxgan import configs


def tiny_config(**train_overrides) -> ml_collections.ConfigDict:
  """The base config shrunk to toy widths, 128 simulated events, 1 device, 2 critic updates."""
  config = configs.base_config()
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
