"""Command-line entry point: train a GAN from a config file.

  python -m jaxgan.main --config=experiments/ctgan.py --workdir=runs/ctgan \
      [--config.train.num_steps=100 ...] [--allow_config_change]

Running the same command again continues the run from its latest checkpoint. SIGTERM or SIGINT
(Ctrl-C) saves a checkpoint at the current step and exits with status 128 + the signal's number
(143, 130), as a process killed by that signal would, so that schedulers and shell loops see the
run as unfinished.

Kept thin on purpose: flags are parsed here and nowhere else; the library takes arguments.
"""

import sys

import jax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxgan import logs
from jaxgan import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder for checkpoints, logs and samples.')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'Continue a run of --workdir saved with another config.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(logs.QuietLibraries())
  logging.info('JAX process %d of %d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value, _ALLOW_CONFIG_CHANGE.value)
  except train.Preempted as stop:
    logging.warning('%s', stop)
    sys.exit(128 + stop.signum)


if __name__ == '__main__':
  app.run(main)
