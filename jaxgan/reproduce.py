"""Command line: checks that a short training reproduces: twice, interrupted and resumed, on one
device.

  python -m jaxgan.reproduce --config=experiments/ctgan.py --workdir=runs/reproduce \
      [--config.train.num_steps=20 ...] [--kills=10 [--kill_seed=0]]

`jaxgan.reproduction.reproduce` trains the runs a/, b/, c/ (and d/) under --workdir, compares
them (what and how: `jaxgan/reproduction.py`) and writes reproduce.json; the report is printed,
and the exit status is 1 when a bitwise comparison fails. With --kills=N it also soaks: run s/
is trained by `python -m jaxgan.main` with this command's --config flags, SIGKILLed N times at
random moments (drawn with --kill_seed) and launched again until it completes, then compared
with a/, and its metrics.jsonl must hold one row per logged step; a log line tells each kill,
and a failed check of the soak also gives exit status 1.
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
      'workdir': flags.DEFINE_string('workdir', None, 'Folder of the runs a/, b/, c/, d/, s/.'),
      'kills': flags.DEFINE_integer('kills', 0, 'SIGKILLs of the soaked run s/ (0: no soak).',
                                    lower_bound=0),
      'kill_seed': flags.DEFINE_integer('kill_seed', 0, 'Seed of the moments of the kills.'),
  }
  flags.mark_flags_as_required(['config', 'workdir'])
  return holders


def main(values: cli.FlagValues) -> None:
  """Runs the check; exits with 1 when it fails (a config that cannot give a meaningful check
  ends with its message: `cli`)."""
  report = reproduction.reproduce(values['config'], values['workdir'], values['kills'],
                                  _config_flags() if values['kills'] else (), values['kill_seed'])
  print(reproduction.format_report(report))
  if not report['passed']:
    raise SystemExit(1)


def _config_flags() -> list[str]:
  """The flags that give `python -m jaxgan.main` this command's config: --config=<file> and each
  --config.<field>=<value> override, as absl writes them for parsing again."""
  overrides = config_flags.get_override_values(flags.FLAGS['config'])
  return [line for name in ('config', *(f'config.{path}' for path in overrides))
          for line in flags.FLAGS[name].serialize().splitlines()]


if __name__ == '__main__':
  cli.run(main, _define_flags)
