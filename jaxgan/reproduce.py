"""Command line: checks that a short training reproduces: twice, interrupted and resumed, on one
device.

  python -m jaxgan.reproduce --config=experiments/ctgan.py --workdir=runs/reproduce \
      [--config.train.num_steps=20 ...]

`jaxgan.reproduction.reproduce` trains the runs a/, b/, c/ (and d/) under --workdir, compares
them (what and how: `jaxgan/reproduction.py`) and writes reproduce.json; the report is printed,
and the exit status is 1 when a bitwise comparison fails.
"""

from absl import flags
from ml_collections import config_flags

from jaxgan import cli
from jaxgan import reproduction


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  holders = {
      'config': config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                                lock_config=True),
      'workdir': flags.DEFINE_string('workdir', None, 'Folder of the runs a/, b/, c/, d/.'),
  }
  flags.mark_flags_as_required(['config', 'workdir'])
  return holders


def main(values: cli.FlagValues) -> None:
  """Runs the check; exits with 1 when it fails, with its message on a config that cannot give
  a meaningful check."""
  try:
    report = reproduction.reproduce(values['config'], values['workdir'])
  except ValueError as error:
    raise SystemExit(f'jaxgan.reproduce: {error}') from error
  print(reproduction.format_report(report))
  if not report['passed']:
    raise SystemExit(1)


if __name__ == '__main__':
  cli.run(main, _define_flags)
