"""Test set-up: 4 fake CPU devices; XLA compiles without most of its optimisations; each test
file's compiled code is released when the file is done.

The tests' models are tiny, so compiling costs more than running: with most XLA optimisations
off (`JAX_DISABLE_MOST_OPTIMIZATIONS`, unless the environment sets it) test_pipeline took 56 s
instead of 82 s and test_reproduce 30 s instead of 38 s (2026-11-28, 2-core CPU). What the tests
compare is computed under the same setting on both sides (two runs, two device counts, a layer
and its reference), and training and benchmarks keep XLA's optimisations. A GAN's path depends
on float rounding, so the one test with a quality threshold (the pilot's ring run) turns them
back on (`test_pilots.optimised_xla`).
The environment must be set before jax is imported. JAX's persistent compilation cache is not
used.

Compiled code is released after each test file (`jax.clear_caches()`, `release_compiled_code`).
On CPU every live XLA executable holds about 3 memory mappings of its own, and a process may
hold at most `vm.max_map_count` of them (65530 by default on Linux). When they run out, XLA's
CPU compiler crashes with a segmentation fault ("LLVM compilation error: Cannot allocate
memory", then SIGSEGV in `backend_compile_and_load`; docs/design.md has a minimal
reproduction). Without the release, the mappings of every file in one process
(`python -m pytest tests`) add up: 26,862 after the first 7 of 31 files, and a crash in a late
file. With it, the same run peaked at 25,262 (inside test_experiments.py) and passed: 477 tests
in 2099 s (2026-12-07, 2-core Xeon shared with other jobs, load 5-8).
"""

import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position  # After the environment.
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(autouse=True, scope='module')
def release_compiled_code():
  """Frees the executables a test file compiled (and their memory mappings) when it ends."""
  yield
  jax.clear_caches()
