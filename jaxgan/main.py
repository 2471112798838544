"""Command-line entry point: train a GAN from a config file.

  python -m jaxgan.main --config=experiments/ctgan.py --workdir=runs/ctgan \
      [--config.train.num_steps=100 ...] [--allow_config_change] \
      [--coordinator=HOST:PORT --num_processes=N --process_id=I] [--distributed=auto|on|off]

Running the same command again continues the run from its latest checkpoint. SIGTERM or SIGINT
(Ctrl-C) saves a checkpoint at the current step and exits with status 128 + the signal's number
(143, 130), as a process killed by that signal would, so that schedulers and shell loops see the
run as unfinished.

Several processes (hosts) train one run together when `jax.distributed` is started: by
`--coordinator=HOST:PORT --num_processes=N --process_id=I` (all three), or without them by the
environment of a multi-process launcher (srun, mpirun), or with `--distributed=on` (a Cloud TPU
pod slice); `jaxgan/distributed.py` says how it is detected and what each process does.

Kept thin on purpose: flags are parsed here and nowhere else; the library takes arguments.
"""

import sys

import jax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxgan import distributed
from jaxgan import logs
from jaxgan import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder for checkpoints, logs and samples.')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'Continue a run of --workdir saved with another config.')
_DISTRIBUTED = flags.DEFINE_enum(
    'distributed', 'auto', distributed.MODES,
    'Start jax.distributed: auto = when a multi-process launcher (srun, mpirun) started this '
    'process, on = always (JAX detects the cluster), off = never.')
_COORDINATOR = flags.DEFINE_string('coordinator', None,
                                   'HOST:PORT of process 0, for a multi-process run started by '
                                   'hand (with --num_processes and --process_id).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes of the run.', lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process, 0 .. num_processes - 1.',
                                   lower_bound=0)
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(logs.QuietLibraries())
  try:
    distributed.initialize(_DISTRIBUTED.value, _COORDINATOR.value, _NUM_PROCESSES.value,
                           _PROCESS_ID.value)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  logging.info('JAX process %d of %d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value, _ALLOW_CONFIG_CHANGE.value)
  except train.Preempted as stop:
    logging.warning('%s', stop)
    sys.exit(128 + stop.signum)


if __name__ == '__main__':
  app.run(main)
