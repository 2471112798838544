"""Command line: the render probe, a generator trained by regression onto the simulator's
noise-free images from every hidden variable of each event (`jaxgan/render_probing.py`).

  python -m jaxgan.render_probe --config=experiments/ctgan.py [--steps=N] [--eval_every=M] \
      [--output=render_probe.json] [--config.FIELD=VALUE ...]

`jaxgan.render_probing.run_to_file` logs a row of measures every --eval_every steps and writes
the rows, with the config, to --output.
"""

from absl import flags
from ml_collections import config_flags

from jaxgan import cli
from jaxgan import render_probing


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  holders = {
      'config': config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                                lock_config=True),
      'steps': flags.DEFINE_integer('steps', None, 'Regression steps (default: '
                                    'train.num_steps).'),
      'eval_every': flags.DEFINE_integer('eval_every', 100, 'Steps between evaluations.'),
      'output': flags.DEFINE_string('output', None, 'Write the rows to this JSON file.'),
  }
  flags.mark_flags_as_required(['config'])
  return holders


def main(values: cli.FlagValues) -> None:
  """Runs the probe the flags describe."""
  render_probing.run_to_file(values['config'], values['steps'], values['eval_every'],
                             values['output'])


if __name__ == '__main__':
  cli.run(main, _define_flags)
