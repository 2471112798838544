"""Experiment configs load, are locked against misspellings, and check their types."""

import glob
import importlib.util
import os

import pytest

from jaxgan import configs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(glob.glob(os.path.join(REPO, 'experiments', '*.py')))


def load_experiment(path):
  spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('path', EXPERIMENTS, ids=os.path.basename)
def test_experiment_has_command_docstring_and_valid_config(path):
  module = load_experiment(path)
  assert 'python -m jaxgan.main' in module.__doc__ or 'make train' in module.__doc__
  config = module.get_config()
  assert config.train.batch_size > 0 and config.train.num_steps > 0


@pytest.mark.fast
def test_misspelt_field_in_a_config_file_names_it():
  config = configs.base_config()
  with pytest.raises(AttributeError, match='num_stpes'):
    config.train.num_stpes = 3


def test_wrong_type_names_the_field():
  config = configs.base_config()
  with pytest.raises(TypeError, match='num_steps'):
    config.train.num_steps = 'many'


def test_paper_config_is_the_source_recipe():
  config = load_experiment(os.path.join(REPO, 'experiments', 'ctgan_paper.py')).get_config()
  assert config.model.latent_dim == 512
  assert tuple(config.model.generator_base_shape) == (3, 3, 512)
  assert tuple(config.model.generator_features) == (256, 128, 64, 1)
  assert tuple(config.model.critic_features) == (128, 256, 512, 1024)
  assert config.optimizer.generator_learning_rate == config.optimizer.critic_learning_rate == 2e-4
  assert (config.optimizer.b1, config.optimizer.b2) == (0.5, 0.9)
  assert (config.train.n_critic, config.loss.gp_weight, config.train.batch_size) == (5, 10.0, 512)
  assert dict(config.loss.label_weights) == {'particletype': 0.4, 'energy': 0.4, 'direction': 0.4}
