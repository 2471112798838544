"""Checks that a short training reproduces: twice, interrupted and resumed, on one device.

`reproduce(config, workdir)` does it for `python -m jaxgan.reproduce`. Runs, each in its own
folder under the workdir, each from its initialisation (the folders must not exist yet):
  a/  the config as given
  b/  the same again, its own auxiliary predictor included
  c/  the same trained to half the steps (train.num_steps // 2), then launched again with the
      full length: it resumes from the checkpoint of the half step (the last step of a launch is
      always checkpointed; that it resumed there is checked, not assumed)
  d/  only when a/ trained on more than one device: the same on 1 device (train.num_devices=1)
      with the same global batch

c and d load a/'s auxiliary predictor (when the config trains one into its run folder), so they
test the GAN's resume and device count alone; b trains its own, so a vs b covers it too. The
checkpoint schedule is left as configured: it does not change the state.

Comparisons (<workdir>/reproduce.json; `format_report` gives a short report):
  a vs b state, a vs c state     bitwise: every leaf of the final states has the same dtype,
                                 shape and bytes (0.0 and -0.0 differ, equal NaNs agree)
  a vs b metrics                 bitwise: metrics.jsonl gives the same value for every (step,
                                 name), and both runs log the same ones
  a vs c metrics                 bitwise: every (step, name) a logs, c logs with the same value
                                 (c logs a few more: the last step of its first launch and the
                                 first of its second)
  a vs d state                   within tolerance (RTOL, ATOL, as in tests/test_train.py): the
                                 largest absolute difference and the first leaf outside it
Each comparison names the first difference it finds (the leaf path, or the step and metric).
The report's `passed` is false (the command's exit status 1) when a bitwise comparison fails.
The tolerance comparison is reported only: differences between device counts start at rounding
level and may grow over many steps of a GAN, so a failure there is a warning about the run
length, not a bug by itself.
"""

import functools
import json
import math
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxgan import assembly
from jaxgan import checkpoint
from jaxgan import configs
from jaxgan import logs
from jaxgan import train

PyTree = Any

RUNS = ('a', 'b', 'c', 'd')
REPORT_FILE = 'reproduce.json'
RTOL, ATOL = 2e-4, 2e-5  # 1 device against several (tests/test_train.py)


def first_difference(a: PyTree, b: PyTree) -> str | None:
  """The path of the first leaf where two pytrees differ bitwise (dtype, shape or bytes), 'tree
  structure' when their structures differ, None when they are bitwise equal."""
  leaves_a, structure_a = jax.tree_util.tree_flatten_with_path(a)
  leaves_b, structure_b = jax.tree_util.tree_flatten_with_path(b)
  if structure_a != structure_b:
    return 'tree structure'
  for (path, x), (_, y) in zip(leaves_a, leaves_b):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
      return jax.tree_util.keystr(path)
  return None


def tolerance_difference(a: PyTree, b: PyTree, rtol: float = RTOL,
                         atol: float = ATOL) -> tuple[float, str | None]:
  """The largest absolute difference over all leaves (as float64), and the path of the first
  leaf not `np.allclose(rtol, atol)` ('tree structure' when the structures differ; else None)."""
  leaves_a, structure_a = jax.tree_util.tree_flatten_with_path(a)
  leaves_b, structure_b = jax.tree_util.tree_flatten_with_path(b)
  if structure_a != structure_b:
    return math.inf, 'tree structure'
  largest, first = 0.0, None
  for (path, x), (_, y) in zip(leaves_a, leaves_b):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
      return math.inf, jax.tree_util.keystr(path)
    largest = max(largest, float(np.max(np.abs(x - y), initial=0.0)))
    if first is None and not np.allclose(x, y, rtol=rtol, atol=atol):
      first = jax.tree_util.keystr(path)
  return largest, first


def logged_values(workdir: str) -> dict[tuple[int, str], Any]:
  """(step, name) -> value of the run's metrics.jsonl (a later row wins)."""
  return {(row['step'], name): value for row in logs.read_metrics(workdir)
          for name, value in row.items() if name != 'step'}


def _same(x: Any, y: Any) -> bool:
  """Bitwise equality of two logged values (equal NaNs agree)."""
  return type(x) is type(y) and (x == y or isinstance(x, float) and math.isnan(x)
                                 and math.isnan(y))


def first_metric_difference(reference: dict[tuple[int, str], Any],
                            other: dict[tuple[int, str], Any], same_keys: bool) -> str | None:
  """The first (step, name) of `reference` that `other` lacks or logs differently, as text; with
  `same_keys`, also one that only `other` logs. None when none is found."""
  for key in sorted(reference):
    if key not in other:
      return f'step {key[0]} {key[1]}: missing'
    if not _same(reference[key], other[key]):
      return f'step {key[0]} {key[1]}: {reference[key]!r} != {other[key]!r}'
  extra = sorted(other.keys() - reference.keys()) if same_keys else []
  return f'step {extra[0][0]} {extra[0][1]}: only in one run' if extra else None


def _bitwise_checks(name: str, states: dict[str, PyTree], workdir: str,
                    same_keys: bool) -> list[dict]:
  """The state and metrics comparisons of run `name` with run a."""
  logged = {run: logged_values(os.path.join(workdir, run)) for run in ('a', name)}
  found = {'state': first_difference(states['a'], states[name]),
           'metrics': first_metric_difference(logged['a'], logged[name], same_keys)}
  return [{'name': f'a vs {name} {what}', 'kind': 'bitwise', 'passed': difference is None,
           'first_difference': difference} for what, difference in found.items()]


def _tolerance_check(states: dict[str, PyTree]) -> dict:
  largest, first = tolerance_difference(states['a'], states['d'])
  return {'name': 'a vs d state', 'kind': 'tolerance', 'passed': first is None,
          'first_difference': first, 'max_abs_difference': largest, 'rtol': RTOL, 'atol': ATOL}


def check_start(config: ml_collections.ConfigDict, workdir: str) -> int:
  """The step at which run c is interrupted (half the steps).

  Raises:
    ValueError: a config or workdir that cannot give a meaningful check.
  """
  if config.train.num_epochs:
    raise ValueError(f'train.num_epochs={config.train.num_epochs}: give the length as '
                     'train.num_steps (and num_epochs=0), which the interrupted run halves')
  if config.train.num_steps < 2:
    raise ValueError(f'train.num_steps={config.train.num_steps}: need >= 2 to interrupt a run')
  existing = [run for run in RUNS if os.path.exists(os.path.join(workdir, run))]
  if existing:
    raise ValueError(f'{workdir} already holds {existing}: every run must start afresh; '
                     'use another --workdir or delete them')
  return config.train.num_steps // 2


def _shared_predictor(config: ml_collections.ConfigDict, workdir: str) -> dict[str, str]:
  """The override that makes c and d load a/'s predictor (none when a/ trains none of its own)."""
  if config.predictor.checkpoint or not assembly.conditioning_of(config).uses_predictor:
    return {}
  return {'predictor.checkpoint': os.path.abspath(os.path.join(workdir, 'a', 'predictor'))}


def _resumed(config: ml_collections.ConfigDict, workdir: str, half: int,
             shared: dict[str, str]) -> PyTree:
  """Run c: trained to `half`, then relaunched to the end; returns its final state."""
  halfway = configs.with_overrides(config, {'train.num_steps': half, **shared})
  train.train_and_evaluate(halfway, workdir)
  saved = checkpoint.latest_saved_step(checkpoint.directory_of(workdir))
  if saved != half:
    raise RuntimeError(f'{workdir}: the interrupted run saved step {saved}, not {half}')
  return train.train_and_evaluate(configs.with_overrides(config, shared), workdir)


def reproduce(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains runs a, b, c (and d) in `workdir`, compares them, writes reproduce.json.

  Args:
    config: the run's config (locked).
    workdir: a folder without the runs' subfolders a/, b/, c/, d/.

  Returns:
    The report: the runs' facts, `checks` (each with `name`, `kind` 'bitwise' or 'tolerance',
    `passed`, `first_difference`; the tolerance one with `max_abs_difference`, `rtol`, `atol`)
    and `passed`, whether every bitwise check passed.
  """
  half = check_start(config, workdir)
  shared = _shared_predictor(config, workdir)
  run_dir = functools.partial(os.path.join, workdir)
  states = {run: train.train_and_evaluate(config, run_dir(run)) for run in ('a', 'b')}
  states['c'] = _resumed(config, run_dir('c'), half, shared)
  checks = (_bitwise_checks('b', states, workdir, same_keys=True)
            + _bitwise_checks('c', states, workdir, same_keys=False))
  devices = len(train.select_devices(config.train.num_devices))
  if devices > 1:
    one_device = configs.with_overrides(config, {'train.num_devices': 1, **shared})
    states['d'] = train.train_and_evaluate(one_device, run_dir('d'))
    checks.append(_tolerance_check(states))
  report = {'workdir': workdir, 'num_steps': config.train.num_steps, 'resumed_at': half,
            'devices': devices, 'checks': checks,
            'passed': all(check['passed'] for check in checks if check['kind'] == 'bitwise')}
  with open(run_dir(REPORT_FILE), 'w') as f:
    json.dump(report, f, indent=2)
  return report


def format_report(report: dict) -> str:
  """A few lines: one per comparison, PASS or FAIL with its first difference, then the verdict."""
  lines = [f'jaxgan.reproduce: {report["workdir"]}: {report["num_steps"]} steps, resumed at '
           f'{report["resumed_at"]}, {report["devices"]} device(s)']
  for check in report['checks']:
    line = f'  {"PASS" if check["passed"] else "FAIL"}  {check["name"]} ({check["kind"]}'
    if check['kind'] == 'tolerance':
      line += (f', rtol {check["rtol"]:g}, atol {check["atol"]:g}): max abs difference '
               f'{check["max_abs_difference"]:.3g}')
    else:
      line += ')'
    if check['first_difference']:
      line += f'; first difference: {check["first_difference"]}'
    lines.append(line)
  lines.append(f'bitwise reproducible: {"yes" if report["passed"] else "NO"}')
  return '\n'.join(lines)
