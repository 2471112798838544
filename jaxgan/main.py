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

Kept thin on purpose: flags are parsed here and nowhere else (`jaxgan.cli`); the library takes
arguments.
"""

import sys

import jax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxgan import cli
from jaxgan import distributed
from jaxgan import train


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  holders = {
      'config': config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                                lock_config=True),
      'workdir': flags.DEFINE_string('workdir', None, 'Folder for checkpoints, logs and samples.'),
      'allow_config_change': flags.DEFINE_bool(
          'allow_config_change', False, 'Continue a run of --workdir saved with another config.'),
      'distributed': flags.DEFINE_enum(
          'distributed', 'auto', distributed.MODES,
          'Start jax.distributed: auto = when a multi-process launcher (srun, mpirun) started '
          'this process, on = always (JAX detects the cluster), off = never.'),
      'coordinator': flags.DEFINE_string(
          'coordinator', None, 'HOST:PORT of process 0, for a multi-process run started by hand '
          '(with --num_processes and --process_id).'),
      'num_processes': flags.DEFINE_integer('num_processes', None, 'Processes of the run.',
                                            lower_bound=1),
      'process_id': flags.DEFINE_integer('process_id', None,
                                         'This process, 0 .. num_processes - 1.', lower_bound=0),
  }
  flags.mark_flags_as_required(['config', 'workdir'])
  return holders


def main(values: cli.FlagValues) -> None:
  """Starts jax.distributed if asked, then trains; a preempted run exits with 128 + signal."""
  try:
    distributed.initialize(values['distributed'], values['coordinator'], values['num_processes'],
                           values['process_id'])
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  logging.info('JAX process %d of %d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  try:
    train.train_and_evaluate(values['config'], values['workdir'], values['allow_config_change'])
  except train.Preempted as stop:
    logging.warning('%s', stop)
    sys.exit(128 + stop.signum)


if __name__ == '__main__':
  cli.run(main, _define_flags)
