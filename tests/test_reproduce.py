"""The reproducibility check: its comparisons on hand-built values, a tiny run found reproducible
from the command line (with the 1-device comparison on the 4 fake devices), and an injected
difference found, named, and turned into a failing exit status."""

import copy
import importlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan import reproduce
from jaxgan import reproduction
from jaxgan import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# experiments/mixture2d.py shrunk, on every device (the command line's --config.<field>=...)
MIXTURE = {'data.num_examples': 256, 'train.num_steps': 2, 'train.batch_size': 32,
           'train.log_every': 1, 'train.sample_every': 2, 'train.checkpoint_every': 2}
CHECKS = ['a vs b state', 'a vs b metrics', 'a vs c state', 'a vs c metrics']


def mixture_config(**fields):
  config = importlib.import_module('experiments.mixture2d').get_config()
  config.update_from_flattened_dict({**MIXTURE, **fields})
  return config


def logged_steps(workdir, name):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [row['step'] for row in map(json.loads, f) if name in row]


@pytest.mark.fast
def test_first_difference_is_bitwise_and_names_the_leaf():
  tree = {'x': np.zeros(3, np.float32), 'y': {'z': np.array([np.nan, 1.0])}}
  assert reproduction.first_difference(tree, copy.deepcopy(tree)) is None  # equal NaNs agree
  changed = copy.deepcopy(tree)
  changed['y']['z'][1] = np.nextafter(1.0, 2.0)
  assert reproduction.first_difference(tree, changed) == "['y']['z']"
  assert reproduction.first_difference(tree, {**tree, 'x': np.zeros(3, np.float64)}) == "['x']"
  assert reproduction.first_difference(tree, {**tree, 'x': -np.zeros(3, np.float32)}) == "['x']"
  assert reproduction.first_difference(tree, {'x': tree['x']}) == 'tree structure'


def test_tolerance_difference_gives_the_largest_gap_and_the_first_leaf_outside():
  a = {'u': np.array([1.0, 2.0]), 'w': np.array([3.0], np.float32)}
  near = {'u': np.array([1.0 + 1e-6, 2.0]), 'w': np.array([3.0], np.float32)}
  largest, first = reproduction.tolerance_difference(a, near)
  assert largest == pytest.approx(1e-6) and first is None
  far = {'u': np.array([1.0, 2.0]), 'w': np.array([3.1], np.float32)}
  largest, first = reproduction.tolerance_difference(a, far)
  assert largest == pytest.approx(0.1, rel=1e-5) and first == "['w']"


def test_first_metric_difference_names_the_step_and_metric():
  logged = {(1, 'loss'): 0.5, (2, 'loss'): 0.25, (2, 'auc'): float('nan')}
  assert reproduction.first_metric_difference(logged, dict(logged), same_keys=True) is None
  assert (reproduction.first_metric_difference(logged, {**logged, (2, 'loss'): 0.3}, True)
          == 'step 2 loss: 0.25 != 0.3')
  assert (reproduction.first_metric_difference(logged, {(1, 'loss'): 0.5}, False)
          == 'step 2 auc: missing')
  more = {**logged, (3, 'loss'): 0.1}
  assert reproduction.first_metric_difference(logged, more, same_keys=False) is None
  assert reproduction.first_metric_difference(logged, more, True) == 'step 3 loss: only in one run'


def test_refuses_what_cannot_be_checked(tmp_path):
  (tmp_path / 'b').mkdir()
  with pytest.raises(ValueError, match=r"already holds \['b'\]"):
    reproduction.check_start(mixture_config(), str(tmp_path))
  with pytest.raises(ValueError, match='num_steps=1'):
    reproduction.check_start(mixture_config(**{'train.num_steps': 1}), str(tmp_path / 'new'))
  with pytest.raises(ValueError, match='num_epochs=2'):
    reproduction.check_start(mixture_config(**{'train.num_epochs': 2}), str(tmp_path / 'new'))


def test_command_line_finds_a_tiny_run_reproducible(tmp_path):
  workdir = str(tmp_path / 'check')
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.reproduce', '--config=experiments/mixture2d.py',
       f'--workdir={workdir}', *(f'--config.{field}={value}' for field, value in MIXTURE.items())],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert 'bitwise reproducible: yes' in result.stdout
  report = json.load(open(os.path.join(workdir, reproduction.REPORT_FILE)))
  assert (report['passed'], report['devices'], report['resumed_at']) == (True, 4, 1)
  assert [check['name'] for check in report['checks']] == CHECKS + ['a vs d state']
  assert all(check['passed'] for check in report['checks'])
  assert 0 <= report['checks'][-1]['max_abs_difference'] < 1e-3
  # c was resumed at step 1, not trained again from the start
  assert logged_steps(os.path.join(workdir, 'c'), 'critic_loss') == [1, 2]


def test_injected_difference_is_found_named_and_fails(tmp_path, monkeypatch):
  real, changed = train.train_and_evaluate, []

  def perturbed_b(config, workdir):
    """Run b with one bit of one parameter flipped, and one logged value changed."""
    state = real(config, workdir)
    if os.path.basename(workdir) != 'b':
      return state
    leaves, structure = jax.tree_util.tree_flatten_with_path(state)
    index = next(i for i, (_, leaf) in enumerate(leaves) if np.asarray(leaf).dtype == np.float32)
    values = [np.asarray(leaf) for _, leaf in leaves]
    values[index] = np.nextafter(values[index], np.float32(np.inf))
    changed.append(jax.tree_util.keystr(leaves[index][0]))
    path = os.path.join(workdir, 'metrics.jsonl')
    rows = [json.loads(line) for line in open(path)]
    last = [row for row in rows if 'critic_loss' in row][-1]
    last['critic_loss'] += 1e-3
    with open(path, 'w') as f:
      f.writelines(json.dumps(row) + '\n' for row in rows)
    return jax.tree_util.tree_unflatten(structure, values)

  monkeypatch.setattr(train, 'train_and_evaluate', perturbed_b)
  values = {'config': mixture_config(**{'train.num_devices': 1}), 'workdir': str(tmp_path)}
  with pytest.raises(SystemExit) as stopped:
    reproduce.main(values)
  assert stopped.value.code == 1
  report = json.load(open(tmp_path / reproduction.REPORT_FILE))
  checks = {check['name']: check for check in report['checks']}
  assert list(checks) == CHECKS and not report['passed']  # 1 device: no d
  assert checks['a vs b state']['first_difference'] == changed[0]
  assert checks['a vs b metrics']['first_difference'].startswith('step 2 critic_loss: ')
  assert not checks['a vs b state']['passed'] and not checks['a vs b metrics']['passed']
  assert checks['a vs c state']['passed'] and checks['a vs c metrics']['passed']
