"""Every experiment config, at its own model widths, trains 2 steps on a few examples; the
per-particle source configs, which share ctgan_paper's networks, differ from it in their data
protocol alone."""

import glob
import importlib
import json
import os

import numpy as np
import pytest

from jaxgan import configs
from jaxgan import logs
from jaxgan import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(os.path.splitext(os.path.basename(path))[0]
                     for path in glob.glob(os.path.join(REPO, 'experiments', '*.py')))
PER_PARTICLE = {'ctgan_paper_gamma': 'gamma', 'ctgan_paper_proton': 'proton'}
LONGER = {'ctgan_long': 'ctgan'}  # a longer run of another experiment's networks


@pytest.mark.fast
def test_every_experiment_is_listed():
  assert set(EXPERIMENTS) == {'ctgan', 'ctgan_source_small', 'ctgan_paper', 'dcgan',
                              'dcgan_revised', 'acgan_digits', 'mixture2d', *PER_PARTICLE,
                              *LONGER}


@pytest.mark.parametrize('name', sorted(set(EXPERIMENTS) - set(PER_PARTICLE) - set(LONGER)))
def test_experiment_runs_two_steps(tmp_path, name):
  config = importlib.import_module(f'experiments.{name}').get_config()
  config.data.num_examples = 80
  config.predictor.update(num_steps=1, batch_size=16)
  config.train.update(num_steps=2, num_epochs=0, batch_size=8, num_devices=1, log_every=1,
                      sample_every=2, checkpoint_every=2)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2
  final = [row for row in logs.read_metrics(str(tmp_path)) if 'critic_loss' in row][-1]
  assert final['step'] == 2 and all(np.isfinite(value) for value in final.values())


@pytest.mark.fast
@pytest.mark.parametrize('name,particle', sorted(PER_PARTICLE.items()))
def test_a_per_particle_source_config_is_ctgan_paper_with_the_sources_protocol(name, particle):
  config = importlib.import_module(f'experiments.{name}').get_config()
  paper = importlib.import_module('experiments.ctgan_paper').get_config()
  protocol = {'data.particle': ('', particle), 'data.min_intensity_pe': (0.0, 200.0),
              'data.max_leakage': (1.0, 0.1), 'data.transform': ('asinh', 'linear'),
              'data.image_scale': (0.0, 1.0), 'loss.label_weights.particletype': (0.4, 0.0)}
  assert configs.differences(json.loads(paper.to_json_best_effort()), config) == protocol
  assert (config.train.num_epochs, paper.train.num_epochs) == (100, 0)


@pytest.mark.fast
def test_the_long_recipe_is_the_default_run_trained_longer():
  """experiments/ctgan_long.py differs from experiments/ctgan.py in its length and its
  evaluations only, so the default's two-step run covers its networks."""
  long = importlib.import_module('experiments.ctgan_long').get_config()
  default = importlib.import_module(f'experiments.{LONGER["ctgan_long"]}').get_config()
  changed = configs.differences(json.loads(default.to_json_best_effort()), long)
  assert set(changed) == {'eval.every', 'eval.num'}  # and, below, the length
  assert long.train.num_steps > 5 * default.train.num_steps
