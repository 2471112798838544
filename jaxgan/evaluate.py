"""Command line: evaluates a trained run, generated against simulated validation images.

  python -m jaxgan.evaluate --workdir=runs/ctgan [--num=N] [--step=S] [--seed=0] \
      [--batch_size=1024] [--judge_steps=K] [--judges=one|three] [--judge_network=NAME]

`jaxgan.evaluation.telescope.evaluate_run` generates an image for each of the first `num`
validation labels (default: all), compares them with the simulated images of the same labels,
and writes metrics.json, summary.md and the figures in <workdir>/eval/ (listed in
`jaxgan/evaluation/telescope.py`).
"""

import os

from absl import flags

from jaxgan import cli
from jaxgan.evaluation import telescope


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  return {
      'workdir': flags.DEFINE_string('workdir', None, 'Directory of the training run.',
                                     required=True),
      'num': flags.DEFINE_integer('num', None, 'Evaluate on the first N validation labels '
                                  '(default: all).'),
      'step': flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).'),
      'seed': flags.DEFINE_integer('seed', 0, 'Seed of the latents and of the metrics.'),
      'batch_size': flags.DEFINE_integer('batch_size', telescope.DEFAULT_BATCH_SIZE,
                                         'Images generated at once.'),
      'judge_steps': flags.DEFINE_integer('judge_steps', None, 'Training steps of the judge '
                                          '(default: predictor.num_steps).'),
      'judges': flags.DEFINE_string('judges', None, "'one' evaluation network for every label "
                                    "or 'three', one per label (default: eval.judges)."),
      'judge_network': flags.DEFINE_string('judge_network', None, "The judges' network: 'resnet' "
                                           "or 'thin_resnet' (default: eval.judge_network)."),
  }


def main(values: cli.FlagValues) -> None:
  """Evaluates the run the flags name (a bad request ends with its message: `cli`)."""
  result = telescope.evaluate_run(**values)
  print(f'Evaluated step {result["run"]["step"]} on {result["run"]["num_images"]} images: '
        f'see {os.path.dirname(result["run"]["generated"])}/summary.md')


if __name__ == '__main__':
  cli.run(main, _define_flags)
