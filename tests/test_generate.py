"""Generating telescope images from a trained run: labels, format, determinism, EMA, errors."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import checkpoint
from jaxgan import generation
from jaxgan import labels as labels_lib
from jaxgan import train
from jaxgan.data import dataset as data_lib
from jaxgan.data import hdf5
from jaxgan.data import pipeline
from tests.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A one-step run with an EMA generator ('cgan': no predictor to train first)."""
  workdir = str(tmp_path_factory.mktemp('run'))
  config = tiny_config(num_steps=1, ema_decay=0.5)
  config.model.conditioning = 'cgan'
  state = train.train_and_evaluate(config, workdir)
  return workdir, config, state


@pytest.fixture(scope='module')
def labels_file(run, tmp_path_factory):
  """The first 10 validation examples of the run, as a jaxgan HDF5 file."""
  _, config, _ = run
  validation = data_lib.load_splits(config.data)[1].take(np.arange(10))
  path = str(tmp_path_factory.mktemp('labels') / 'validation.h5')
  hdf5.write(path, validation.images, validation.labels, camera=camera_lib.Camera(0.1, 6.0, 3.0),
             provenance={'test': 'labels'}, source='toy_iact')
  return path


def drawn_labels(config, num=10):
  return generation.draw_labels(generation.training_labels(config), num, seed=0)


def test_labels_file_gives_exactly_its_labels_in_the_format(run, labels_file, tmp_path):
  workdir = run[0]
  output = str(tmp_path / 'generated.h5')
  stats = generation.generate_to_file(checkpoint.load_generator(workdir), output,
                                      generation.file_labels(labels_file), batch_size=4, seed=0,
                                      label_source={'file': labels_file})
  hdf5.validate(output)
  generated, source = hdf5.read(output), hdf5.read(labels_file)
  for name in labels_lib.LABEL_KEYS:
    np.testing.assert_array_equal(generated.labels[name], source.labels[name])
  assert generated.images.shape == (10, 43, 43, 1) and generated.images.dtype == np.float32
  assert np.isfinite(generated.images).all()
  metadata = hdf5.read_metadata(output)
  assert (metadata['source'], metadata['image_shape'], metadata['pixel_size_deg']) == (
      generation.SOURCE, (43, 43, 1), 0.1)
  provenance = metadata['provenance']['generator']
  assert provenance['workdir'] == os.path.abspath(workdir)
  assert (provenance['step'], provenance['seed'], provenance['ema']) == (1, 0, True)
  assert provenance['label_source'] == {'file': labels_file}
  assert provenance['images_per_second'] > 0
  assert stats['num_images'] == 10 and stats['images_per_second'] > 0
  assert sorted(os.listdir(tmp_path)) == ['generated.h5']  # no staging file left


def test_output_does_not_depend_on_the_batch_size(run, tmp_path):
  workdir, config, _ = run
  labels = drawn_labels(config)
  images = {}
  for batch_size, seed in ((3, 0), (7, 0), (7, 1)):
    output = str(tmp_path / f'{batch_size}_{seed}.h5')
    generation.generate_to_file(checkpoint.load_generator(workdir), output, labels,
                                batch_size=batch_size, seed=seed)
    images[batch_size, seed] = hdf5.read(output).images
  np.testing.assert_array_equal(images[3, 0], images[7, 0])
  assert not np.allclose(images[7, 0], images[7, 1])


def test_the_ema_generator_is_used(run, tmp_path):
  workdir, config, state = run
  labels = drawn_labels(config, num=6)
  output = str(tmp_path / 'generated.h5')
  generation.generate_to_file(checkpoint.load_generator(workdir), output, labels, batch_size=6,
                              seed=0)
  generator, _ = assembly.build_networks(config)
  z = generation.latents(jax.random.key(0), jnp.arange(6), config.model.latent_dim)
  vector = labels_lib.label_vector(labels, labels_lib.TELESCOPE)
  facts = json.load(open(os.path.join(workdir, 'dataset.json')))
  normalisation = pipeline.Normalisation(facts['image_scale'], facts['transform'])

  def physical(variables):
    return normalisation.inverse(generator.apply(variables, z, vector, train=False))

  images = hdf5.read(output).images
  np.testing.assert_allclose(images, physical(state.sampling_variables), rtol=1e-5, atol=1e-5)
  assert not np.allclose(images, physical(state.generator_variables), rtol=1e-3, atol=1e-3)


def test_a_run_named_by_a_relative_path_is_restored(run, monkeypatch):
  """As `--workdir=runs/ctgan` names it (Orbax itself takes absolute paths only)."""
  workdir, _, state = run
  monkeypatch.chdir(os.path.dirname(workdir))
  generator = checkpoint.load_generator(os.path.basename(workdir))
  assert generator.step == int(state.step)


def test_command_line_draws_filtered_training_labels(run, tmp_path):
  workdir, config, _ = run
  output = tmp_path / 'gammas.h5'
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.generate', f'--workdir={workdir}', f'--output={output}',
       '--num=12', '--particle=gamma', '--energy_min=0', '--energy_max=1', '--batch_size=5'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert 'images/s' in result.stdout
  generated = hdf5.read(output)
  assert len(generated) == 12
  assert (generated.labels['particletype'] == 1).all()
  assert ((generated.labels['energy'] >= 0) & (generated.labels['energy'] <= 1)).all()
  assert set(generated.labels['energy']) <= set(generation.training_labels(config)['energy'])
  source = hdf5.read_metadata(output)['provenance']['generator']['label_source']
  assert (source['num'], source['particle'], source['energy_max']) == (12, 'gamma', 1.0)


def test_command_line_refuses_conflicting_flags(run, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.generate', f'--workdir={run[0]}',
       f'--output={tmp_path / "x.h5"}', '--labels=validation.h5', '--num=3'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert 'give exactly one of --labels=FILE and --num=N' in result.stderr
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('request_args,message', [
    ((None, None, None, None, None), 'exactly one of'),
    (('val.h5', 5, None, None, None), 'exactly one of'),
    (('val.h5', None, 'gamma', None, None), 'filter the training labels'),
    ((None, 0, None, None, None), '--num=0'),
    ((None, 5, None, 2.0, 1.0), 'exceeds --energy_max'),
])
@pytest.mark.fast
def test_check_request_names_the_problem(request_args, message):
  with pytest.raises(ValueError, match=message):
    generation.check_request(*request_args)


def test_filters_that_leave_no_label_fail_clearly(run):
  labels = generation.training_labels(run[1])
  only_gammas = generation.filter_labels(labels, particle='gamma', energy_max=1.0)
  assert (only_gammas['particletype'] == 1).all() and (only_gammas['energy'] <= 1.0).all()
  with pytest.raises(ValueError, match='no label left'):
    generation.filter_labels(labels, particle='proton', energy_min=5.0)


def test_bad_runs_and_label_files_fail_clearly(run, tmp_path):
  workdir = run[0]
  with pytest.raises(FileNotFoundError, match='no such run directory'):
    checkpoint.load_generator(str(tmp_path / 'missing'))
  untrained = tmp_path / 'untrained'
  untrained.mkdir()
  for name in ('config.json', 'dataset.json'):
    shutil.copy(os.path.join(workdir, name), untrained / name)
  with pytest.raises(FileNotFoundError, match='no checkpoint'):
    checkpoint.load_generator(str(untrained))
  with pytest.raises(ValueError, match=r'no checkpoint at step 7; available: \[1\]'):
    checkpoint.load_generator(workdir, step=7)
  labels = drawn_labels(run[1], num=4)
  labels['direction'] = labels['direction'][:, 0]
  with pytest.raises(ValueError, match=r"'direction' of shape \(4,\), expected \(4, 2\)"):
    generation.generate_to_file(checkpoint.load_generator(workdir), str(tmp_path / 'x.h5'),
                                labels, batch_size=4, seed=0)
  (tmp_path / 'labels.h5').write_text('not hdf5')
  with pytest.raises(ValueError, match='not an HDF5 file'):
    generation.file_labels(str(tmp_path / 'labels.h5'))


def test_non_telescope_runs_are_refused_and_old_configs_take_defaults(run, tmp_path):
  saved = json.load(open(os.path.join(run[0], 'config.json')))
  del saved['model']['spectral_norm']
  json.dump(saved, open(tmp_path / 'config.json', 'w'))
  assert checkpoint.load_config(str(tmp_path)).model.spectral_norm == 'none'
  saved['data']['name'] = 'digits'
  json.dump(saved, open(tmp_path / 'config.json', 'w'))
  with pytest.raises(ValueError, match='telescope images only'):
    checkpoint.load_config(str(tmp_path))


def test_a_failed_generation_leaves_no_file(run, tmp_path):
  workdir, config, _ = run
  labels = drawn_labels(config, num=4)
  labels['particletype'] = np.full(4, 2, np.int32)  # not a particle type
  output = tmp_path / 'generated.h5'
  with pytest.raises(ValueError, match='not a particle type'):
    generation.generate_to_file(checkpoint.load_generator(workdir), str(output), labels,
                                batch_size=4, seed=0)
  assert not os.listdir(tmp_path)


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(run, labels_file, tmp_path,
                                                                   monkeypatch):
  """The labels file named again as the output, through a symlink, a relative path and a hard
  link: refused before anything is generated, the file byte for byte as it was."""
  workdir = run[0]
  before = open(labels_file, 'rb').read()
  os.symlink(labels_file, tmp_path / 'link.h5')
  os.link(labels_file, tmp_path / 'hard.h5')
  monkeypatch.chdir(os.path.dirname(labels_file))
  for output in (str(tmp_path / 'link.h5'), os.path.basename(labels_file),
                 str(tmp_path / 'hard.h5')):
    with pytest.raises(ValueError, match='an input of this command'):
      generation.generate_from_run(workdir, output, labels_file=labels_file)
  with pytest.raises(ValueError, match='an input of this command'):
    generation.generate_from_run(workdir, os.path.join(workdir, 'config.json'), num=3)
  assert open(labels_file, 'rb').read() == before
  assert not [name for name in os.listdir(tmp_path) if 'generating' in name]


@pytest.mark.parametrize('name', ['config.json', 'dataset.json'])
@pytest.mark.parametrize('damage,message', [
    (lambda path: os.truncate(path, os.path.getsize(path) // 2), 'not valid JSON'),
    (lambda path: path.write_text('[1, 2]'), 'a JSON list, expected an object'),
], ids=['truncated', 'a list'])
def test_a_damaged_run_file_is_named_in_one_line(run, tmp_path, name, damage, message):
  workdir = tmp_path / 'run'
  shutil.copytree(run[0], workdir)
  damage(workdir / name)
  with pytest.raises(ValueError, match=re.escape(f'{workdir / name}: {message}')) as refused:
    generation.generate_from_run(str(workdir), str(tmp_path / 'generated.h5'), num=3)
  assert '\n' not in str(refused.value)


def test_a_truncated_labels_file_is_named_in_one_line(run, labels_file, tmp_path):
  truncated = tmp_path / 'labels.h5'
  shutil.copy(labels_file, truncated)
  os.truncate(truncated, os.path.getsize(truncated) // 2)
  with pytest.raises(ValueError, match=re.escape(f'{truncated}: not a readable HDF5 file '
                                                 '(truncated file')) as refused:
    generation.generate_from_run(run[0], str(tmp_path / 'generated.h5'), labels_file=truncated)
  assert '\n' not in str(refused.value)


def litter(folder):
  """The staging files of generations in `folder`."""
  return sorted(name for name in os.listdir(folder) if generation.STAGING in name)


def generation_under_way(workdir, output):
  """A `jaxgan.generate` process writing `output` (a million images: minutes), once its partial
  file exists."""
  process = subprocess.Popen(
      [sys.executable, '-m', 'jaxgan.generate', f'--workdir={workdir}', f'--output={output}',
       '--num=1000000', '--batch_size=8'], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  deadline = time.monotonic() + 120
  while not any(name.endswith('.partial') for name in litter(os.path.dirname(output))):
    assert process.poll() is None and time.monotonic() < deadline, process.communicate()
    time.sleep(0.1)
  return process


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_a_signal_exits_128_plus_it_leaving_no_partial_file_and_the_old_output(
    run, labels_file, tmp_path, signum):
  output = tmp_path / 'generated.h5'
  shutil.copy(labels_file, output)  # an earlier output: replaced only by a complete one
  process = generation_under_way(run[0], output)
  try:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
  finally:
    process.kill()
  assert process.returncode == 128 + signum, stderr
  assert f'Stopped by {signum.name}' in stderr and 'Traceback' not in stderr
  assert os.listdir(tmp_path) == ['generated.h5']
  assert open(output, 'rb').read() == open(labels_file, 'rb').read()


def test_the_next_generation_removes_only_what_writers_that_are_gone_left(run, tmp_path):
  """Not the file of a generation of the same output still running, nor another host's."""
  output = tmp_path / 'generated.h5'
  process = generation_under_way(run[0], output)
  try:
    writing = litter(tmp_path)
    generation.generate_from_run(run[0], str(output), num=3)
    assert litter(tmp_path) == writing and process.poll() is None
  finally:
    process.kill()
  process.communicate(timeout=60)
  elsewhere = f'generated.h5.generating.{socket.gethostname()}x.{process.pid}.partial'
  (tmp_path / elsewhere).write_bytes(b'')
  generation.generate_from_run(run[0], str(output), num=4)
  assert litter(tmp_path) == [elsewhere]
  assert len(hdf5.read(output)) == 4
