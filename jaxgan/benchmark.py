"""Command line: speed of training and generation, measured on whatever backend is present.

  python -m jaxgan.benchmark [--plan=standard|quick|dcgan|simulator] [--repeats=3] \
      [--record=docs/benchmarks.md]

`jaxgan.benchmarking.benchmark` measures the plan's cases, each in a fresh child process (this
command again, with --case), prints a line per case and a Markdown report, and with --record
writes the report as that file's newest entry; what the figures mean is in
`jaxgan/benchmarking.py`. The exit status is 1 when a case failed.
"""

import sys

from absl import flags

from jaxgan import benchmarking
from jaxgan import cli


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags (defined when run: `jaxgan.cli`)."""
  return {
      'plan': flags.DEFINE_enum('plan', 'standard', list(benchmarking.PLANS),
                                'Which cases to measure.'),
      'repeats': flags.DEFINE_integer('repeats', 3, 'Timed calls per case (after one warm-up).',
                                      lower_bound=1),
      'record': flags.DEFINE_string('record', None, 'Markdown file to write the results into as '
                                    'its newest entry.'),
      'case': flags.DEFINE_string('case', None,
                                  'Internal: measure this one case (JSON) and print it.'),
  }


def main(values: cli.FlagValues) -> None:
  """Measures the plan (or, in a child process, the one --case); exits with 1 if a case failed."""
  if values['case']:
    print(benchmarking.measured_line(values['case'], values['repeats']))
    return
  command = ' '.join(['python -m jaxgan.benchmark'] + sys.argv[1:])
  results = benchmarking.benchmark(values['plan'], values['repeats'], values['record'], command)
  if any('error' in result for _, result in results):
    sys.exit(1)


if __name__ == '__main__':
  cli.run(main, _define_flags)
