"""Command line: an ablation sweep, one base config and a sweep file of overrides and seeds.

  python -m jaxgan.ablate --config=experiments/ctgan_source_small.py \
      --sweep=experiments/ablations/losses.py --workdir=runs/ablate-losses \
      [--config.train.num_steps=300 ...] [--eval_num=N] [--judge_steps=K]

`jaxgan.ablation.run_sweep_file` trains every run of the sweep (skipping finished ones on a
re-launch), evaluates it, and writes results.csv, results.md and plots/ in --workdir (the layout
and the decisions are in `jaxgan/ablation.py`).
"""

import os

from absl import flags
from ml_collections import config_flags

from jaxgan import ablation
from jaxgan import cli


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  holders = {
      'config': config_flags.DEFINE_config_file('config', None, 'Base experiment config file.',
                                                lock_config=True),
      'sweep': flags.DEFINE_string('sweep', None, 'Python file whose get_sweep() lists the runs.'),
      'workdir': flags.DEFINE_string('workdir', None, 'Folder of the sweep and its runs.'),
      'eval_num': flags.DEFINE_integer('eval_num', None, 'Telescope data: evaluate on the first '
                                       'N validation labels (default: all).'),
      'judge_steps': flags.DEFINE_integer('judge_steps', None, 'Telescope data: training steps '
                                          'of the judge (default: predictor.num_steps).'),
  }
  flags.mark_flags_as_required(['config', 'sweep', 'workdir'])
  return holders


def main(values: cli.FlagValues) -> None:
  """Runs the sweep the flags name (a bad sweep or config ends with its message: `cli`)."""
  rows = ablation.run_sweep_file(values['config'], values['sweep'], values['workdir'],
                                 eval_num=values['eval_num'], judge_steps=values['judge_steps'])
  print(f'{sum(row["seeds"] for row in rows)} runs, {len(rows)} settings: see '
        f'{os.path.join(values["workdir"], "results.md")}')


if __name__ == '__main__':
  cli.run(main, _define_flags)
