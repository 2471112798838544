"""Ablation sweeps: helpers and names, overrides and their errors, the table against numpy of
each run's own files, skipping and resuming on re-launch, divergence, telescope evaluation with
one shared judge, the command line and the shipped sweeps."""

import copy
import csv
import glob
import importlib
import json
import math
import os
import subprocess
import sys
import types

import jax
import numpy as np
import pytest
from PIL import Image

from jaxgan import ablation
from jaxgan import configs
from jaxgan import train
from jaxgan.evaluation import telescope
from tests.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = sorted(glob.glob(os.path.join(REPO, 'experiments', 'ablations', '*.py')))
# experiments/mixture2d.py shrunk; the command-line test gives the same as --config.<field>=...
MIXTURE = {'data.num_examples': 256, 'train.num_steps': 2, 'train.batch_size': 32,
           'train.num_devices': 1, 'train.log_every': 1, 'train.sample_every': 2,
           'train.checkpoint_every': 2}
SWEEP_TEXT = '''
from jaxgan import ablation


def get_sweep():
  return ablation.with_seeds(ablation.product({'loss.name': ['non_saturating', 'least_squares']}),
                             [0, 1])
'''
SETTINGS = ('loss.name=non_saturating', 'loss.name=least_squares')


def mixture_config():
  config = importlib.import_module('experiments.mixture2d').get_config()
  config.update_from_flattened_dict(MIXTURE)
  return config


def read_csv(workdir):
  with open(os.path.join(workdir, 'results.csv')) as f:
    return {row['setting']: row for row in csv.DictReader(f)}


def final_rows(workdir):
  """The numeric fields of the metrics.jsonl rows at the largest step, read directly."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  last = max(row['step'] for row in rows)
  return {name: value for row in rows if row['step'] == last for name, value in row.items()
          if name != 'step'}


def latest_checkpoint(workdir):
  steps = [int(name) for name in os.listdir(os.path.join(workdir, 'checkpoints'))
           if name.isdigit()]
  return max(steps, default=None)


def assert_cell(cell, expected):
  """A CSV cell against numpy's number: equal, or empty where numpy's is NaN."""
  if math.isnan(expected):
    assert cell == ''
  else:
    assert float(cell) == pytest.approx(expected, rel=1e-12)


def fail(*args, **kwargs):
  raise AssertionError('a finished run was trained again')


@pytest.mark.fast
def test_product_zip_and_seeds_build_the_expected_lists():
  assert ablation.product({'a': [1, 2], 'b': ['x', 'y']}) == [
      {'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
  assert ablation.product({}) == [{}]
  assert ablation.zip_({'a': [1, 2], 'b': ['x', 'y']}) == [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
  assert ablation.with_seeds([{'a': 1}, {'a': 2}], [0, 7]) == [
      {'a': 1, 'seed': 0}, {'a': 1, 'seed': 7}, {'a': 2, 'seed': 0}, {'a': 2, 'seed': 7}]
  with pytest.raises(ValueError, match='as many values'):
    ablation.zip_({'a': [1, 2], 'b': ['x']})


@pytest.mark.parametrize('overrides,name', [
    ({'seed': 1, 'loss.penalty': 'none', 'loss.name': 'hinge'},
     'loss.name=hinge,loss.penalty=none,seed=1'),
    ({'model.critic_features': (16, 32), 'loss.clip': 0.01},
     'loss.clip=0.01,model.critic_features=16-32'),
    ({'data.path': '/data/a b.h5'}, 'data.path=_data_a_b.h5'),
    ({}, 'base'),
])
def test_run_names_are_readable_and_safe(overrides, name):
  assert ablation.run_name(overrides) == name


def test_long_run_names_are_cut_and_stay_distinct():
  first = ablation.run_name({'data.path': 'x' * 300 + '1'})
  second = ablation.run_name({'data.path': 'x' * 300 + '2'})
  assert len(first) == len(second) == ablation.MAX_NAME and first != second


def test_overrides_apply_to_a_locked_copy_and_keep_linked_fields():
  base = configs.telescope()
  run = ablation.apply_overrides(base, {'optimizer.generator_learning_rate': 0.1, 'seed': 3}, 0)
  assert (run.seed, run.optimizer.critic_learning_rate) == (3, 0.1)  # the critic's follows
  assert (base.seed, base.optimizer.critic_learning_rate) == (0, 2e-4)
  assert run.is_locked


@pytest.mark.parametrize('field,value,message', [
    ('loss.nmae', 'hinge', 'loss.nmae'),
    ('modle.latent_dim', 3, 'modle.latent_dim'),
    ('train.n_critic', 'many', 'train.n_critic'),
    ('loss.name', 'hinje', 'hinje'),  # a field that exists, a value train refuses
])
def test_bad_override_names_the_entry_and_the_field(tmp_path, field, value, message):
  with pytest.raises(ValueError, match=f'sweep entry 1.*{message}'):
    ablation.plan(mixture_config(), [{'seed': 0}, {field: value}], str(tmp_path))


def test_a_run_listed_twice_is_refused(tmp_path):
  with pytest.raises(ValueError, match='more than once'):
    ablation.plan(mixture_config(), [{'seed': 0}, {'seed': 0}], str(tmp_path))


@pytest.mark.parametrize('path', SHIPPED, ids=os.path.basename)
def test_shipped_sweeps_fit_the_default_config(tmp_path, path):
  name = os.path.splitext(os.path.basename(path))[0]
  with open(path) as f:
    assert f'--sweep=experiments/ablations/{name}.py' in f.read()
  config = importlib.import_module('experiments.ctgan').get_config()
  planned = ablation.plan(config, ablation.load_sweep(path), str(tmp_path))
  seeds = {}
  for run in planned:
    seeds.setdefault(ablation.run_name(run.setting), []).append(run.config.seed)
    assert run.config.predictor.checkpoint == str(tmp_path / 'predictor')  # shared
  # Several seeds, the same for every setting.
  assert len(seeds) > 1 and len({tuple(sorted(found)) for found in seeds.values()}) == 1
  assert all(len(set(found)) == len(found) >= 2 for found in seeds.values())


def test_loss_sweep_has_the_six_losses():
  runs = ablation.load_sweep(os.path.join(REPO, 'experiments', 'ablations', 'losses.py'))
  settings = {ablation.run_name(run) for run in runs if run['seed'] == 0}
  assert settings == {'loss.name=minimax,loss.penalty=none,seed=0',
                      'loss.name=non_saturating,loss.penalty=none,seed=0',
                      'loss.name=least_squares,loss.penalty=none,seed=0',
                      'loss.clip=0.01,loss.name=wasserstein,loss.penalty=none,seed=0',
                      'loss.name=wasserstein,loss.penalty=gp,seed=0',
                      'loss.name=hinge,loss.penalty=none,seed=0'}


@pytest.fixture(scope='module')
def swept(tmp_path_factory):
  """2 losses x 2 seeds of the shrunken 2-D mixture pilot, swept once for the module."""
  root = tmp_path_factory.mktemp('sweep')
  sweep_file = root / 'sweep.py'
  sweep_file.write_text(SWEEP_TEXT)
  workdir = str(root / 'runs')
  rows = ablation.run_sweep(mixture_config(), ablation.load_sweep(str(sweep_file)), workdir)
  return workdir, str(sweep_file), rows


def test_table_is_numpy_mean_and_std_of_each_runs_final_metrics(swept):
  workdir, _, _ = swept
  table = read_csv(workdir)
  assert set(table) == set(SETTINGS)
  metrics = [key[:-len('_mean')] for key in next(iter(table.values())) if key.endswith('_mean')]
  assert {'critic_loss', 'generator_loss', 'modes_covered', 'high_quality_fraction'} <= set(metrics)
  for setting in SETTINGS:
    row = table[setting]
    assert (row['loss.name'], row['seeds'], row['failed']) == (setting.split('=')[1], '2', '0')
    finals = [final_rows(os.path.join(workdir, f'{setting},seed={seed}')) for seed in (0, 1)]
    for metric in metrics:
      values = [final[metric] for final in finals]
      assert_cell(row[f'{metric}_mean'], np.mean(values))
      assert_cell(row[f'{metric}_std'], np.std(values, ddof=1))
  for metric in metrics:
    with Image.open(os.path.join(workdir, 'plots', f'{metric}.png')) as image:
      assert image.size[0] > 100
  text = open(os.path.join(workdir, 'results.md')).read()
  assert all(setting in text for setting in SETTINGS) and '| modes_covered |' in text
  listed = json.load(open(os.path.join(workdir, 'sweep.json')))['runs']
  assert [run['overrides'] for run in listed] == ablation.load_sweep(swept[1])


def test_relaunch_skips_finished_runs(swept, monkeypatch):
  workdir, sweep_file, rows = swept
  monkeypatch.setattr(train, 'train_and_evaluate', fail)
  before = open(os.path.join(workdir, SETTINGS[0] + ',seed=0', 'metrics.jsonl')).read()
  again = ablation.run_sweep(mixture_config(), ablation.load_sweep(sweep_file), workdir)
  assert json.dumps(again) == json.dumps(rows)  # NaN-aware equality
  assert open(os.path.join(workdir, SETTINGS[0] + ',seed=0', 'metrics.jsonl')).read() == before


def test_run_folder_of_another_config_is_refused(swept):
  workdir, sweep_file, _ = swept
  other = mixture_config()
  other.train.batch_size = 64
  with pytest.raises(ValueError, match='train.batch_size'):
    ablation.run_sweep(other, ablation.load_sweep(sweep_file), workdir)


def test_command_line_relaunch_skips_every_run(swept):
  workdir, sweep_file, _ = swept
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.ablate', '--config=experiments/mixture2d.py',
       f'--sweep={sweep_file}', f'--workdir={workdir}', '--alsologtostderr',
       *(f'--config.{field}={value}' for field, value in MIXTURE.items())],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stderr.count('finished before, skipped') == 4
  assert 'Run 4/4' in result.stderr and 'results.md' in result.stdout


def test_relaunch_resumes_an_unfinished_run(tmp_path, monkeypatch):
  workdir, runs, real = str(tmp_path), [{'seed': 0}, {'seed': 1}], train.train_and_evaluate

  def stopped_halfway(config, run_workdir):
    if config.seed == 1:
      half = copy.deepcopy(config)
      half.train.num_steps = 1
      real(half, run_workdir)
      raise RuntimeError('stopped')
    return real(config, run_workdir)

  monkeypatch.setattr(train, 'train_and_evaluate', stopped_halfway)
  with pytest.raises(RuntimeError, match='stopped'):
    ablation.run_sweep(mixture_config(), runs, workdir)
  assert not os.path.exists(os.path.join(workdir, 'seed=1', ablation.RESULT_FILE))
  launches = []

  def recorded(config, run_workdir):
    launches.append((os.path.basename(run_workdir), latest_checkpoint(run_workdir)))
    return real(config, run_workdir)

  monkeypatch.setattr(train, 'train_and_evaluate', recorded)
  rows = ablation.run_sweep(mixture_config(), runs, workdir)
  assert launches == [('seed=1', 1)]  # seed=0 skipped, seed=1 resumed from its checkpoint
  assert json.load(open(os.path.join(workdir, 'seed=1', ablation.RESULT_FILE)))['step'] == 2
  with open(os.path.join(workdir, 'seed=1', 'metrics.jsonl')) as f:
    logged = [json.loads(line)['step'] for line in f if 'critic_loss' in line]
  assert logged == [1, 2]  # not trained again from step 0
  assert [(row['setting'], row['seeds']) for row in rows] == [('base', 2)]


@pytest.mark.fast
def test_diverged_run_is_recorded_counted_and_not_retried(tmp_path, monkeypatch):
  workdir, runs, real = str(tmp_path), [{'seed': 0}, {'seed': 1}], train.train_and_evaluate

  def diverging(config, run_workdir):
    if config.seed == 1:
      raise FloatingPointError('non-finite critic_loss at step 1')
    return real(config, run_workdir)

  monkeypatch.setattr(train, 'train_and_evaluate', diverging)
  (row,) = ablation.run_sweep(mixture_config(), runs, workdir)
  final = final_rows(os.path.join(workdir, 'seed=0'))
  assert (row['seeds'], row['failed']) == (2, 1)
  assert row['critic_loss_mean'] == final['critic_loss'] and math.isnan(row['critic_loss_std'])
  assert 'non-finite' in json.load(open(os.path.join(workdir, 'seed=1', ablation.RESULT_FILE)))[
      'failed']
  monkeypatch.setattr(train, 'train_and_evaluate', fail)
  assert ablation.run_sweep(mixture_config(), runs, workdir)[0]['failed'] == 1


def test_telescope_runs_are_evaluated_and_share_one_judge(tmp_path, monkeypatch):
  config = tiny_config(n_critic=1)  # cheap to build and compile: no predictor, no penalty
  config.model.conditioning = 'cgan'
  config.model.critic_conv_impl = 'xla'
  config.loss.penalty = 'none'
  workdir = str(tmp_path)
  (row,) = ablation.run_sweep(config, [{'seed': 0}], workdir, eval_num=24, judge_steps=2)
  evaluated = json.load(open(tmp_path / 'seed=0' / 'eval' / 'metrics.json'))['metrics']
  assert evaluated['c2st_auc'] is not None and row['seeds'] == 1
  for metric, value in evaluated.items():
    assert (row[f'{metric}_mean'] == value if value is not None
            else math.isnan(row[f'{metric}_mean']))
    assert math.isnan(row[f'{metric}_std'])  # one seed
  shared = tmp_path / 'judge'
  assert shared.is_dir() and os.path.samefile(tmp_path / 'seed=0' / 'eval' / 'judge', shared)

  calls = []

  def judged(run_workdir, num, judge_steps):
    """Stands in for telescope.evaluate_run: the run must find the shared judge in place."""
    calls.append((os.path.basename(run_workdir), num, judge_steps))
    assert os.path.samefile(os.path.join(run_workdir, 'eval', 'judge'), shared)
    return {'metrics': {**evaluated, 'c2st_auc': 0.75}}

  monkeypatch.setattr(train, 'train_and_evaluate', lambda *args: types.SimpleNamespace(step=2))
  monkeypatch.setattr(telescope, 'evaluate_run', judged)
  (row,) = ablation.run_sweep(config, ablation.with_seeds([{}], [0, 1]), workdir, eval_num=24,
                              judge_steps=2)  # seed=0 finished: skipped
  assert calls == [('seed=1', 24, 2)]
  values = [evaluated['c2st_auc'], 0.75]
  assert row['c2st_auc_mean'] == pytest.approx(np.mean(values), rel=1e-12)
  assert row['c2st_auc_std'] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
  ablation.run_sweep(config, ablation.with_seeds([{}], [0, 1]), workdir, eval_num=30)
  assert calls[1:] == [('seed=0', 30, None), ('seed=1', 30, None)]  # evaluated again


def test_a_run_folder_of_another_config_is_refused_naming_the_field(tmp_path):
  run, = ablation.plan(mixture_config(), [{'seed': 0}], str(tmp_path))
  other = copy.deepcopy(run.config)
  other.loss.gp_weight = 5.0
  other.train.num_steps = 99  # a length change alone is allowed
  os.makedirs(run.workdir)
  train.claim_workdir(other, run.workdir)
  with pytest.raises(ValueError, match=r'loss.gp_weight: 5.0 -> 10.0'):
    ablation.check_same_experiment(run)
  other.loss.gp_weight = run.config.loss.gp_weight
  train.claim_workdir(other, run.workdir, allow_config_change=True)
  ablation.check_same_experiment(run)


@pytest.mark.fast
def test_each_run_releases_its_compiled_code(tmp_path, monkeypatch):
  """A long sweep in one process must not keep every run's executables (docs/design.md)."""
  released = []
  monkeypatch.setattr(jax, 'clear_caches', lambda: released.append(True))

  def diverging(config, run_workdir):
    raise FloatingPointError('non-finite critic_loss at step 1')

  monkeypatch.setattr(train, 'train_and_evaluate', diverging)
  ablation.run_sweep(mixture_config(), [{'seed': 0}, {'seed': 1}], str(tmp_path))
  assert len(released) == 2
