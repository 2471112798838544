"""Runs every tests/test_*.py in its own pytest process, `--jobs` at a time; what `make test` does.

Files run in parallel because most of their time is single-threaded XLA compilation: on 2 cores,
2 at a time. A process per file also keeps the files apart: a crash or a leaked global in one
cannot fail another. The slowest files start first (`SLOWEST_FIRST`), so that the run does not
end with one long file alone on the machine; the others follow by name. Each file's output is
printed, whole, when it finishes, with its wall time; the exit status is 1 if any file failed.
Every file in one process works too (`python -m pytest tests`: tests/conftest.py releases each
file's compiled code, without which one process runs out of memory mappings inside XLA).

  python tests/run_files.py [--jobs=N] [tests/test_x.py ...]
"""

import argparse
import concurrent.futures
import glob
import os
import subprocess
import sys
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
# The files that take longest (each over 2 minutes, 2 at a time on 2 cores), longest first.
SLOWEST_FIRST = ('test_experiments.py', 'test_steps.py', 'test_train.py', 'test_distributed.py',
                 'test_evaluate.py', 'test_faults.py', 'test_ablate.py', 'test_benchmark.py',
                 'test_alongside.py', 'test_pilots.py', 'test_generate.py', 'test_reproduce.py',
                 'test_pipeline.py')


def start_order(path: str) -> tuple[int, str]:
  """Sort key: the SLOWEST_FIRST files in their order, then the others by name."""
  name = os.path.basename(path)
  return (SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST), name)


def run_file(path: str) -> tuple[str, int, str, float]:
  """(path, exit status, output, seconds) of pytest on one file."""
  start = time.perf_counter()
  result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', path],
                          cwd=os.path.dirname(TESTS), capture_output=True, text=True)
  return path, result.returncode, result.stdout + result.stderr, time.perf_counter() - start


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
  parser.add_argument('files', nargs='*')
  args = parser.parse_args()
  files = sorted(args.files or glob.glob(os.path.join(TESTS, 'test_*.py')), key=start_order)
  failed, start = [], time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
    for path, status, output, seconds in pool.map(run_file, files):
      name = os.path.relpath(path, os.path.dirname(TESTS))
      print(f'== {name} ({seconds:.0f} s)\n{output}', flush=True)
      if status:
        failed.append(name)
  print(f'{len(files) - len(failed)} of {len(files)} test files passed in '
        f'{time.perf_counter() - start:.0f} s'
        + (f'; failed: {", ".join(failed)}' if failed else ''))
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
