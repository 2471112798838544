"""Every experiment config, at its own model widths, trains 2 steps on a few examples."""

import glob
import importlib
import os

import numpy as np
import pytest

from jaxgan import logs
from jaxgan import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(os.path.splitext(os.path.basename(path))[0]
                     for path in glob.glob(os.path.join(REPO, 'experiments', '*.py')))


@pytest.mark.fast
def test_every_experiment_is_listed():
  assert set(EXPERIMENTS) == {'ctgan', 'ctgan_source_small', 'ctgan_paper', 'dcgan',
                              'dcgan_revised', 'acgan_digits', 'mixture2d'}


@pytest.mark.parametrize('name', EXPERIMENTS)
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
