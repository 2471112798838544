"""Evaluating a trained run: the files, every metric, the cached judge, and `compare` itself."""

import json
import math
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import checkpoint
from jaxgan import generation
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan import predictor_training
from jaxgan import train
from jaxgan.data import dataset as data_lib
from jaxgan.data import pipeline
from jaxgan.evaluation import judge as judge_lib
from jaxgan.evaluation import metrics as metrics_lib
from jaxgan.evaluation import targets
from jaxgan.evaluation import telescope
from tests.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM = 24  # generated images: at least telescope.MIN_IMAGES, fewer than the 32 validation ones
JUDGE_STEPS = 2
# Undefined when no generated image keeps light after cleaning (a one-step generator's do not).
# Undefined where the tiny run's generated images have no light after cleaning.
MAY_BE_NULL = ('hillas_w1_', 'response_', 'log10_size_gap_', 'gamma_alpha_', 'gamma_dist_')


@pytest.fixture(scope='module')
def evaluated(tmp_path_factory):
  """A one-step 'cgan' run (no predictor to train first), evaluated once from the command line."""
  workdir = str(tmp_path_factory.mktemp('run'))
  config = tiny_config(num_steps=1, ema_decay=0.5)
  config.model.conditioning = 'cgan'
  train.train_and_evaluate(config, workdir)
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.evaluate', f'--workdir={workdir}', f'--num={NUM}',
       f'--judge_steps={JUDGE_STEPS}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  return workdir, result.stdout


@pytest.fixture(scope='module')
def setting(evaluated):
  """The simulated validation images and labels, the (saved) judge and the camera."""
  workdir = evaluated[0]
  config = checkpoint.load_config(workdir)
  generator = checkpoint.load_generator(workdir)
  data = assembly.RunData(*data_lib.load_splits(config.data), generator.normalisation)
  judge = judge_lib.load_judge(config, workdir, data)
  camera = camera_lib.Camera(0.1, config.data.toy_iact.tailcut_picture_pe,
                             config.data.toy_iact.tailcut_boundary_pe)
  assert generator.camera == camera
  return np.asarray(data.validation.images), data.validation.labels, judge, camera


def test_command_line_writes_every_file(evaluated):
  workdir, stdout = evaluated
  directory = os.path.join(workdir, 'eval')
  assert 'summary.md' in stdout
  assert {'metrics.json', 'summary.md', 'histograms.png', 'response.png', 'generated.h5',
          'judge'} <= set(os.listdir(directory))
  summary = open(os.path.join(directory, 'summary.md')).read()
  for name, meaning in telescope.METRICS.items():
    assert f'| {name} |' in summary and meaning in summary


def test_every_metric_is_there_and_the_judge_is_reused(evaluated, monkeypatch):
  workdir = evaluated[0]
  first = json.load(open(os.path.join(workdir, 'eval', 'metrics.json')))

  def retrain(*args, **kwargs):
    raise AssertionError('the saved judge should have been loaded')

  monkeypatch.setattr(predictor_training, 'train_predictor', retrain)
  result = telescope.evaluate_run(workdir, num=NUM, judge_steps=JUDGE_STEPS)
  assert result == json.load(open(os.path.join(workdir, 'eval', 'metrics.json')))
  assert list(result['metrics']) == list(telescope.METRICS)
  for name, value in result['metrics'].items():
    if value is None:
      assert name.startswith(MAY_BE_NULL), name
    else:
      assert math.isfinite(value), name
  run = result['run']
  assert (run['step'], run['num_images'], run['seed'], run['ema']) == (1, NUM, 0, True)
  assert run['judge'] == os.path.join(os.path.abspath(workdir), 'eval', 'judge')
  assert (run['judges'], run['judge_network']) == ('one', 'resnet')
  wasserstein = result['metrics']['critic_wasserstein']  # the source's sign and its log10
  assert result['metrics']['w_distance'] == -wasserstein
  assert result['metrics']['log10_w_distance'] == pytest.approx(math.log10(abs(wasserstein)))
  assert result['metrics']['generation_ms_per_image'] > 0
  assert 0 <= result['metrics']['light_fraction_simulated'] <= 1
  for name in ('frechet_distance', 'c2st_auc', 'judge_accuracy_generated'):  # same seed
    assert result['metrics'][name] == pytest.approx(first['metrics'][name])


def test_simulated_against_itself_is_perfect_and_a_shift_is_seen(setting):
  simulated, labels, judge, camera = setting
  same = telescope.compare(simulated, simulated, labels, judge, camera).metrics
  shifted = telescope.compare(1.5 * np.roll(simulated, 4, axis=2), simulated, labels, judge,
                              camera).metrics
  assert abs(same['frechet_distance']) < 1e-9 and abs(same['frechet_distance_infinity']) < 1e-3
  assert abs(same['c2st_auc'] - 0.5) < 0.1
  assert same['hillas_w1_mean'] == 0 and same['diversity_ratio_mean'] == pytest.approx(1)
  assert same['judge_accuracy_generated'] == same['judge_accuracy_simulated']
  assert all(same[f'response_{name}_chi2'] == 0 for name in telescope.RESPONSE_NAMES)
  assert same['log10_size_gap_gamma'] == same['log10_size_gap_proton'] == 0
  assert same['gamma_alpha_gap'] == 0
  for tier in targets.TIERS:  # simulated events stand in for themselves
    assert all(outcome.met for outcome in targets.check(same, tier)), tier
  assert shifted['frechet_distance'] > 1e3 * abs(same['frechet_distance']) + 1e-4
  assert shifted['c2st_auc'] > 0.8
  assert shifted['hillas_w1_mean'] > 0.5
  assert shifted['diversity_ratio_mean'] == pytest.approx(1.5 ** 2, rel=1e-3)


def test_bad_requests_fail_clearly(evaluated, setting, tmp_path):
  workdir = evaluated[0]
  with pytest.raises(FileNotFoundError, match='no such run directory'):
    telescope.evaluate_run(str(tmp_path / 'missing'))
  assert not (tmp_path / 'missing').exists()
  with pytest.raises(ValueError, match=f'num=5: give {telescope.MIN_IMAGES} to 32'):
    telescope.evaluate_run(workdir, num=5)
  untrained = tmp_path / 'untrained'
  untrained.mkdir()
  for name in ('config.json', 'dataset.json'):
    shutil.copy(os.path.join(workdir, name), untrained / name)
  with pytest.raises(FileNotFoundError, match='no checkpoint'):
    telescope.evaluate_run(str(untrained))
  saved = json.load(open(untrained / 'config.json'))
  saved['data']['name'] = 'digits'
  json.dump(saved, open(untrained / 'config.json', 'w'))
  with pytest.raises(ValueError, match='telescope images only'):
    telescope.evaluate_run(str(untrained))
  simulated, labels, judge, camera = setting
  with pytest.raises(ValueError, match='as many of each'):
    telescope.compare(simulated[:30], simulated, labels, judge, camera)
  with pytest.raises(ValueError, match="eval.judges='five'"):
    telescope.evaluate_run(workdir, judges='five')
  with pytest.raises(ValueError, match="'name': 'thin_resnet'"):  # not the saved judge's network
    telescope.evaluate_run(workdir, judge_network='thin_resnet')


def test_evaluation_during_training_logs_the_metrics_of_each_interval(tmp_path):
  workdir = str(tmp_path)
  config = tiny_config(num_steps=3, ema_decay=0.5)
  config.model.conditioning = 'cgan'
  config.eval.every, config.eval.num, config.eval.seed = 2, NUM, 3
  config.predictor.num_steps = JUDGE_STEPS
  state = train.train_and_evaluate(config, workdir)
  rows = [row for row in logs.read_metrics(workdir) if 'eval_critic_wasserstein' in row]
  assert [row['step'] for row in rows] == [2, 3]  # every 2 steps, and at the last one
  assert os.path.isdir(os.path.join(workdir, 'eval', 'judge'))
  for name in rows[-1]:
    assert name in ('step', logs.TRAIN_SECONDS) or name.removeprefix('eval_') in telescope.METRICS
  assert 0 < rows[0][logs.TRAIN_SECONDS] < rows[1][logs.TRAIN_SECONDS]
  assert os.path.getsize(os.path.join(workdir, 'eval', 'progress.png')) > 0
  assert {'eval_judge_accuracy_generated', 'eval_frechet_distance',
          'eval_c2st_auc'} <= set(rows[-1])
  # The final critic estimate, recomputed directly from the networks.
  generator, critic = assembly.build_networks(config)
  _, validation = data_lib.load_splits(config.data)
  facts = json.load(open(os.path.join(workdir, 'dataset.json')))
  normalisation = pipeline.Normalisation(facts['image_scale'], facts['transform'])
  labels = {name: values[:NUM] for name, values in validation.labels.items()}
  vector = labels_lib.label_vector(labels, labels_lib.TELESCOPE)
  z = generation.latents(jax.random.key(3), jnp.arange(NUM), config.model.latent_dim)
  fake = generator.apply(state.sampling_variables, z, vector, train=False)
  real = normalisation.forward(np.asarray(validation.images[:NUM]))
  critic_variables = {'params': state.critic_params, 'batch_stats': state.critic_batch_stats}

  def mean_score(images):
    return float(np.mean(critic.apply(critic_variables, images, vector, train=False).scores))

  assert rows[-1]['eval_critic_wasserstein'] == pytest.approx(
      mean_score(real) - mean_score(fake), rel=1e-4, abs=1e-5)


@pytest.mark.fast
def test_evaluation_during_training_is_checked_before_training(tmp_path):
  config = tiny_config()
  config.eval.every, config.eval.num = 1, telescope.MIN_IMAGES - 1
  with pytest.raises(ValueError, match=f'eval.num must be >= {telescope.MIN_IMAGES}'):
    train.train_and_evaluate(config, str(tmp_path))
  config = tiny_config()
  config.data.name, config.model.conditioning, config.eval.every = 'digits', 'cgan', 1
  with pytest.raises(ValueError, match='for telescope data'):
    train.train_and_evaluate(config, str(tmp_path))


@pytest.mark.fast
def test_response_chi2_is_the_mean_squared_pull_over_the_defined_bins():
  """Pulls by hand: bin 0 (1 - 1.5) / hypot(0.3, 0.4) = -1, bin 1 0; bin 2 has no generated
  value, bin 3 no generated error."""
  def curve(value, error):
    return metrics_lib.Curve(np.arange(4.0), np.array(value), np.array(error), np.full(4, 9))

  generated = curve([1.0, 2.0, np.nan, 4.0], [0.3, 0.4, 0.1, np.nan])
  simulated = curve([1.5, 2.0, 3.0, 1.0], [0.4, 0.3, 0.1, 0.5])
  assert telescope.response_chi2(generated, simulated) == pytest.approx(0.5)
  assert math.isnan(telescope.response_chi2(curve([np.nan] * 4, [1.0] * 4), simulated))


@pytest.mark.fast
def test_the_judge_is_the_runs_predictor_with_the_next_seed_and_its_batches_join_up(tmp_path):
  config = tiny_config()
  judge = judge_lib.judge_config(config, str(tmp_path), num_steps=3)
  assert (judge.seed, judge.num_steps) == (config.predictor.seed + 1, 3)
  assert judge.checkpoint == str(tmp_path / 'eval' / 'judge')
  assert judge.stage_widths == config.predictor.stage_widths
  x, y = np.arange(14.0).reshape(7, 2), np.arange(7.0)
  joined = judge_lib.batched(lambda a, b: {'sum': a[:, 0] + b, 'rows': a}, 3, x, y)
  np.testing.assert_array_equal(joined['sum'], x[:, 0] + y)
  np.testing.assert_array_equal(joined['rows'], x)
