"""The reproducibility check: its comparisons on hand-built values, a tiny run found reproducible
from the command line (with the 1-device comparison on the 4 fake devices), and an injected
difference found, named, and turned into a failing exit status. The soak: its kill schedule, its
launch loop on a stand-in command, its row check on hand-written metrics, and a tiny run killed
twice and found reproducible from the command line."""

import copy
import importlib
import json
import os
import subprocess
import sys
import time

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
SOAK_CHECKS = ['s completed', 'a vs s state', 'a vs s metrics', 's one row per logged step']
# tests.helpers.tiny_mixture_config as command-line flags, 30 steps, a checkpoint at each
SOAKED = {'data.num_examples': 64, 'model.generator_features': '(16, 16, 2)',
          'model.critic_features': '(16, 16)', 'loss.penalty': 'gp', 'train.batch_size': 8,
          'train.num_steps': 30, 'train.num_devices': 1, 'train.log_every': 1,
          'train.sample_every': 30, 'train.checkpoint_every': 1}
# Kill seed 195 draws the kills at 2% and 54% of a's time, and the second launch, started at 2%,
# runs longer than half of a's time (unless twice as fast as a): both kills are made.
KILL_SEED = 195


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
  values = {'config': mixture_config(**{'train.num_devices': 1}), 'workdir': str(tmp_path),
            'kills': 0, 'kill_seed': 0}
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


@pytest.mark.fast
def test_kills_fall_one_in_each_slice_of_the_span_as_the_seed_draws():
  times = reproduction.kill_times(4, 20.0, seed=3)
  assert [int(t // 5) for t in times] == [0, 1, 2, 3]
  assert times == reproduction.kill_times(4, 20.0, seed=3)
  assert times != reproduction.kill_times(4, 20.0, seed=4)
  first, second = reproduction.kill_times(2, 10.0, KILL_SEED)
  assert first < 0.2 and 5.0 < second < 5.5


@pytest.mark.fast
def test_soak_kills_at_the_moments_and_launches_again_until_one_completes(tmp_path):
  started = tmp_path / 'started'
  started.mkdir()
  # A stand-in for training: records its launch, then works 30 s, or nothing from the third on.
  script = ('import os, sys, time; n = len(os.listdir(sys.argv[1])); '
            'open(os.path.join(sys.argv[1], str(n)), "w").close(); time.sleep(30 if n < 2 else 0)')
  begin = time.monotonic()
  soaked = reproduction.soak([sys.executable, '-c', script, str(started)], str(tmp_path / 'run'),
                             [0.5, 1.0], str(tmp_path / 'soak.log'))
  assert time.monotonic() - begin < 10
  assert (soaked['planned_kills'], soaked['launches'], soaked['status']) == (2, 3, 0)
  assert sorted(os.listdir(started)) == ['0', '1', '2']
  assert [kill['at_s'] for kill in soaked['kills']] == pytest.approx([0.5, 1.0], abs=0.4)
  assert soaked['kills'][0] == {'at_s': soaked['kills'][0]['at_s'], 'saved_step': None,
                                'logged_step': None, 'writing_checkpoint': False}
  assert open(tmp_path / 'soak.log').read().count('--- launch') == 3
  failing = reproduction.soak([sys.executable, '-c', 'raise SystemExit(3)'], str(tmp_path),
                              [5.0], str(tmp_path / 'soak.log'))
  assert (failing['launches'], failing['status'], failing['kills']) == (1, 3, [])  # none made


def write_rows(workdir, rows):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    f.writelines(json.dumps(row) + '\n' for row in rows)


@pytest.mark.fast
def test_row_check_finds_duplicate_and_missing_steps(tmp_path):
  a, s = str(tmp_path / 'a'), str(tmp_path / 's')
  write_rows(a, [{'step': 1, 'loss': 0.5}, {'step': 2, 'loss': 0.25}, {'step': 3, 'loss': 0.1}])
  # Resumed at 2: step 3 logged anew, and an evaluation's row of step 2 beside its losses.
  write_rows(s, [{'step': 1, 'loss': 0.5}, {'step': 2, 'loss': 0.25}, {'step': 2, 'auc': 0.7},
                 {'step': 3, 'loss': 0.1}])
  check = reproduction.row_check(a, s)
  assert (check['passed'], check['first_difference'], check['duplicate_steps'],
          check['missing_steps']) == (True, None, [], [])
  write_rows(s, [{'step': 1, 'loss': 0.5}, {'step': 2, 'loss': 0.25}, {'step': 2, 'loss': 0.25},
                 {'step': 4, 'loss': 0.1}])
  check = reproduction.row_check(a, s)
  assert (check['passed'], check['first_difference'], check['duplicate_steps'],
          check['missing_steps']) == (False, 'step 2 loss: 2 rows', [2], [3])


def test_soak_kills_a_run_twice_and_finds_it_reproducible(tmp_path):
  workdir = str(tmp_path / 'check')
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.reproduce', '--config=experiments/mixture2d.py',
       f'--workdir={workdir}', '--kills=2', f'--kill_seed={KILL_SEED}',
       *(f'--config.{field}={value}' for field, value in SOAKED.items())],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'bitwise reproducible: yes' in result.stdout
  assert 'Soak: kill 2 of 2 at ' in result.stderr
  report = json.load(open(os.path.join(workdir, reproduction.REPORT_FILE)))
  assert [check['name'] for check in report['checks']] == CHECKS + SOAK_CHECKS
  assert all(check['passed'] for check in report['checks'])
  assert (len(report['soak']['kills']), report['soak']['launches']) == (2, 3)
  assert logged_steps(os.path.join(workdir, 's'), 'critic_loss') == list(range(1, 31))
