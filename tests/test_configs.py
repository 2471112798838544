"""Family bases and experiment configs: they load, are locked against misspellings, check their
types, sit one level above their family's base, and hold the recipes they document."""

import ast
import glob
import importlib.util
import json
import os

import ml_collections
import pytest

from jaxgan import configs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(glob.glob(os.path.join(REPO, 'experiments', '*.py')))
FAMILIES = ('telescope', 'telescope_source_code', 'telescope_frame', 'pictures', 'points')


def load_experiment(path):
  spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def experiment_config(name):
  return load_experiment(os.path.join(REPO, 'experiments', f'{name}.py')).get_config()


@pytest.mark.parametrize('path', EXPERIMENTS, ids=os.path.basename)
def test_experiment_docstring_says_what_how_and_what_to_expect(path):
  module = load_experiment(path)
  assert 'python -m jaxgan.main' in module.__doc__ or 'make train' in module.__doc__
  assert 'Expected' in module.__doc__
  config = module.get_config()
  assert config.is_locked and config.train.batch_size > 0 and config.train.num_steps > 0


@pytest.mark.parametrize('path', EXPERIMENTS, ids=os.path.basename)
def test_experiment_starts_from_one_family_base(path):
  """get_config calls exactly one family base of `configs`, and no other file."""
  with open(path) as f:
    tree = ast.parse(f.read())
  calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
  bases = [call.attr for call in calls if isinstance(call, ast.Attribute)
           and isinstance(call.value, ast.Name) and call.value.id == 'configs']
  assert len(bases) == 1 and bases[0] in FAMILIES
  imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              for alias in node.names} | {alias.name for node in ast.walk(tree)
                                          if isinstance(node, ast.Import) for alias in node.names}
  assert imported <= {'configs', 'ml_collections'}


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.fast
def test_misspelt_field_in_a_config_file_names_it(family):
  config = getattr(configs, family)()
  with pytest.raises(AttributeError, match='num_stpes'):
    config.train.num_stpes = 3


def test_wrong_type_names_the_field():
  config = configs.telescope()
  with pytest.raises(TypeError, match='num_steps'):
    config.train.num_steps = 'many'


def test_unknown_telescope_size_is_refused():
  with pytest.raises(ValueError, match="size='huge'"):
    configs.telescope(size='huge')


def field_names(config, prefix=''):
  """Dotted names of the fields, `label_weights` (each dataset's label names) as one."""
  names = set()
  for name, value in config.items():
    if isinstance(value, ml_collections.ConfigDict) and name != 'label_weights':
      names |= field_names(value, f'{prefix}{name}.')
    else:
      names.add(prefix + name)
  return names


def test_families_share_their_fields():
  """The same fields in every base, so that a run of any family saves, restores and compares
  the same config."""
  found = [field_names(getattr(configs, family)()) for family in FAMILIES]
  assert found[0] == found[1] == found[2] and len(found[0]) > 100


def test_paper_config_is_the_source_recipe():
  config = experiment_config('ctgan_paper')
  assert config.data.num_examples == 875_000 and config.model.name == 'ctgan'
  assert config.model.latent_dim == 512
  assert tuple(config.model.generator_base_shape) == (3, 3, 512)
  assert tuple(config.model.generator_features) == (256, 128, 64, 1)
  assert tuple(config.model.critic_features) == (128, 256, 512, 1024)
  assert config.optimizer.generator_learning_rate == config.optimizer.critic_learning_rate == 2e-4
  assert (config.optimizer.b1, config.optimizer.b2) == (0.5, 0.9)
  assert (config.loss.name, config.loss.penalty) == ('wasserstein', 'gp')
  assert (config.train.n_critic, config.loss.gp_weight, config.train.batch_size) == (5, 10.0, 512)
  assert config.model.conditioning == 'predictor'
  assert dict(config.loss.label_weights) == {'particletype': 0.4, 'energy': 0.4, 'direction': 0.4}


def test_source_small_is_the_source_recipe_at_reduced_widths():
  config = experiment_config('ctgan_source_small')
  assert (config.model.name, config.model.latent_dim) == ('ctgan', 64)
  assert tuple(config.model.generator_base_shape) == (3, 3, 64)
  assert tuple(config.model.generator_features) == (64, 32, 16, 1)
  assert tuple(config.model.critic_features) == (16, 32, 64, 128)
  assert config.optimizer.critic_learning_rate == 1e-3
  assert (config.optimizer.b1, config.optimizer.b2) == (0.5, 0.9)
  assert (config.loss.name, config.loss.penalty, config.loss.gp_weight) == ('wasserstein', 'gp', 10)
  assert (config.train.n_critic, config.train.batch_size, config.train.num_steps) == (5, 32, 600)
  assert (config.predictor.batch_size, config.model.conditioning) == (64, 'cgan+predictor')
  assert config.data.online_simulation and config.model.critic_view == 'camera'


def test_default_run_is_the_small_recipe_with_the_frame_generator_and_aligned_critic():
  config, small = experiment_config('ctgan'), experiment_config('ctgan_source_small')
  assert (config.model.name, config.model.critic_view) == ('ctgan_frame', 'aligned')
  assert config.model.latent_dim == 64 + 48 * 48 and config.model.generator_pixel_noise
  assert config.train.ema_decay == 0.99
  for field in ('loss', 'optimizer', 'predictor', 'eval', 'data'):
    assert config[field].to_dict() == small[field].to_dict(), field
  assert (config.train.num_steps, config.train.batch_size, config.train.n_critic) == (600, 32, 5)


def test_default_runs_camera_pixel_size_follows_the_simulators():
  config = experiment_config('ctgan')
  config.data.toy_iact.pixel_size_deg = 0.17
  assert config.model.camera_pixel_size == 0.17


@pytest.mark.parametrize('name, data, model, loss, conditioning', [
    ('dcgan', 'image_folder', 'dcgan', 'non_saturating', 'none'),
    ('acgan_digits', 'digits', 'dcgan', 'non_saturating', 'acgan'),
    ('mixture2d', 'gaussian_grid', 'mlp', 'non_saturating', 'none'),
])
def test_pilots_are_plain_gans_on_their_data(name, data, model, loss, conditioning):
  config = experiment_config(name)
  assert (config.data.name, config.model.name, config.loss.name) == (data, model, loss)
  assert (config.model.conditioning, config.loss.penalty, config.train.n_critic) == (
      conditioning, 'none', 1)
  assert (config.data.transform, config.data.image_scale) == ('linear', 1.0)
  assert (config.optimizer.b1, config.optimizer.b2) == (0.5, 0.999)


def test_dcgan_is_the_source_recipe():
  config = experiment_config('dcgan')
  assert (config.model.image_size, config.model.latent_dim) == (64, 100)
  assert tuple(config.model.generator_features) == (512, 256, 128, 64, 3)
  assert tuple(config.model.critic_features) == (64, 128, 256, 512)
  assert (config.loss.label_smoothing, config.optimizer.generator_learning_rate) == (0.1, 2e-4)
  assert (config.train.batch_size, config.train.num_epochs) == (128, 30)
  assert not (config.train.sample_each_epoch or config.train.checkpoint_each_epoch)


@pytest.mark.fast
def test_a_field_the_saved_config_predates_differs_only_away_from_its_default():
  config = configs.telescope()
  saved = json.loads(config.to_json_best_effort())
  del saved['train']['reuse_fakes'], saved['model']['init']  # a run saved before these fields
  assert configs.differences(saved, config) == {}
  config.model.init = 'orthogonal'
  assert configs.differences(saved, config) == {'model.init': (None, 'orthogonal')}
