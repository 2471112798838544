"""jaxgan.benchmarking: its FLOP counts against closed forms and each other, its plans, its report.

No timing is asserted: speeds are the benchmark's output, not a test's.
"""

import jax
import pytest

from jaxgan import assembly
from jaxgan import benchmarking
from jaxgan import train

# The paper experiment shrunk to toy widths: compiles in seconds.
TINY = {'model.latent_dim': 8, 'model.generator_base_shape': (3, 3, 8),
        'model.generator_features': (8, 4, 4, 1), 'model.critic_features': (4, 4, 8, 8),
        'predictor.stage_widths': (4, 8), 'predictor.blocks_per_stage': (1, 1),
        'train.n_critic': 2}


def tiny_case(kind='train', batch_size=8, num_devices=1, varies='batch', **overrides):
  return benchmarking.Case(kind, benchmarking.PAPER, batch_size, num_devices,
                           {**TINY, **overrides}, varies)


def lowered_flops(case):
  """FLOPs of an iteration of `case`, lowered from the shapes of its inputs alone."""
  config = benchmarking.case_config(case)
  devices = train.select_devices(case.num_devices)
  step_config, initial = benchmarking.training_parts(config)
  state, predictor_variables = jax.eval_shape(initial)
  per_device = lambda tree: jax.tree.map(
      lambda leaf: jax.ShapeDtypeStruct((len(devices), *leaf.shape), leaf.dtype), tree)
  args = (per_device(state), benchmarking.synthetic_batch(config, len(devices)),
          per_device(predictor_variables))
  return benchmarking.iteration_flops(step_config, devices, args)


def test_iteration_flops_count_every_critic_update():
  # XLA counts a scan body once; unrolled, each critic update adds the same FLOPs, and the
  # generator update's come on top.
  flops = [lowered_flops(tiny_case(**{'train.n_critic': n})) for n in (1, 2, 3)]
  critic_update = flops[1] - flops[0]
  assert critic_update > 0
  assert flops[2] - flops[1] == pytest.approx(critic_update, rel=1e-3)
  assert flops[0] > critic_update  # one critic update plus the generator update


def test_iteration_flops_are_summed_over_devices():
  one = lowered_flops(tiny_case(batch_size=8, num_devices=1))
  two = lowered_flops(tiny_case(batch_size=8, num_devices=2))
  assert two == pytest.approx(one, rel=0.02)  # the same global work, split


def test_an_online_simulation_case_times_the_step_that_simulates_its_batch():
  given = tiny_case()
  simulated = tiny_case(**{'data.online_simulation': True})
  config = benchmarking.case_config(simulated)
  batch = benchmarking.synthetic_batch(config, num_devices=1)
  assert batch['events'].tolist() == [[config.data.num_examples + i for i in range(8)]]
  assert lowered_flops(simulated) > lowered_flops(given)  # the simulator runs in the step


@pytest.mark.fast
def test_a_report_leaves_out_the_tables_of_kinds_it_did_not_measure():
  result = {'compile_seconds': 1.0, 'seconds_per_iteration': 0.5, 'images_per_second': 16.0,
            'flops_per_iteration': 1e9, 'flops_per_second': 2e9, 'image_shape': [43, 43, 1],
            'memory_bytes_per_device': 2 ** 20, 'allocator_peak_bytes': None, 'device': 'cpu'}
  text = benchmarking.report([(tiny_case(), result)], 'test machine', 'python -m x')
  assert '| ctgan_paper | batch |' in text and 'generator of' not in text


def test_generation_flops_match_the_closed_form_of_its_layers():
  # Base 3x3x32 and 32-channel blocks: the dense layer and the 3x3 convolutions (at the
  # upsampled sides 6, 12, 24, 48) are nearly all of the arithmetic. XLA counts the
  # multiply-adds of kernel taps that fall inside the zero-padded image: 3 * side - 2 of the
  # 3 * side (output, tap) pairs along each axis.
  widths = {'model.generator_base_shape': (3, 3, 32), 'model.generator_features': (32, 32, 32, 1)}
  result = benchmarking.measure_generation(tiny_case('generate', 4, **widths), repeats=1)
  dense = 2 * (8 + 4) * 3 * 3 * 32  # latent 8 + telescope label vector 4 -> 288
  convs = sum(2 * (3 * side - 2) ** 2 * cin * cout
              for side, cin, cout in ((6, 32, 32), (12, 32, 32), (24, 32, 32), (48, 32, 1)))
  assert result['flops_per_image'] == pytest.approx(dense + convs, rel=0.02)
  assert result['images_per_second'] > 0


@pytest.mark.parametrize('size', [32, 64, 128])
def test_dcgan_at_each_size_builds_that_size(size):
  config = benchmarking.case_config(
      benchmarking.Case('generate', benchmarking.DCGAN, 2, overrides=benchmarking.dcgan_at(size)))
  generator, _ = assembly.build_networks(config)
  shapes = jax.eval_shape(lambda: generator.init_with_output(
      jax.random.key(0), jax.numpy.zeros((2, 100)), jax.numpy.zeros((2, 0)), train=False))
  assert shapes[0].shape == (2, size, size, 3)
  if size == 64:  # the DCGAN's own widths
    dcgan = benchmarking.case_config(benchmarking.Case('generate', benchmarking.DCGAN, 2)).model
    assert config.model.generator_features == tuple(dcgan.generator_features)
    assert config.model.critic_features == tuple(dcgan.critic_features)


@pytest.mark.fast
def test_the_quick_plans_batch_has_the_default_models_one_channel_images():
  case = [case for case in benchmarking.plan('quick', 'cpu', 1) if case.kind == 'train'][0]
  config = benchmarking.case_config(case)
  assert config.model.name == 'ctgan_frame' and config.model.generator_features[-1] == 16
  state, _ = jax.eval_shape(benchmarking.training_parts(config)[1])
  assert state.critic_params['Conv_0']['kernel'].shape[2] == 1  # the critic reads 1 channel


@pytest.mark.parametrize('backend,count', [('cpu', 4), ('gpu', 1), ('gpu', 8)])
@pytest.mark.parametrize('name', benchmarking.PLANS)
def test_every_planned_case_is_a_valid_config(name, backend, count):
  cases = benchmarking.plan(name, backend, count)
  for case in cases:
    assert benchmarking.Case.from_json(case.to_json()) == case
    if case.kind != 'matmul':
      config = benchmarking.case_config(case)
      train.check_config(config, case.num_devices)
      assert case.num_devices <= max(count, 4)
  assert any(case.kind == 'matmul' for case in cases)


@pytest.mark.parametrize('backend,count', [('cpu', 4), ('gpu', 8)])
def test_the_dcgan_plan_is_the_standard_plans_matmul_and_dcgan_cases(backend, count):
  expected = [case for case in benchmarking.plan('standard', backend, count)
              if case.kind == 'matmul' or case.experiment == benchmarking.DCGAN]
  assert benchmarking.plan('dcgan', backend, count) == expected


@pytest.mark.parametrize('backend', ['cpu', 'gpu'])
def test_the_bfloat16_plan_measures_every_case_in_both_dtypes(backend):
  cases = benchmarking.plan('bfloat16', backend, 1)
  measured = {}
  for case in cases:
    dtype = case.overrides.get('train.dtype', case.overrides.get('dtype'))
    measured.setdefault((case.kind, case.experiment), []).append(dtype)
  assert set(measured) == {('matmul', ''), ('train', benchmarking.PAPER),
                           ('train', benchmarking.DCGAN), ('generate', benchmarking.PAPER),
                           ('generate', benchmarking.DCGAN)}
  assert all(sorted(dtypes) == ['bfloat16', 'float32'] for dtypes in measured.values())


def test_plan_runs_each_case_in_a_child_and_records_the_newest_entry(tmp_path):
  cases = [benchmarking.Case('matmul', batch_size=64, overrides={'dtype': 'float32'}),
           tiny_case(batch_size=8, num_devices=2, varies='devices'),
           tiny_case('generate', 16),
           tiny_case(batch_size=7, num_devices=2)]  # 7 does not split over 2 devices: fails
  results = benchmarking.run_plan(cases, repeats=1, backend='cpu')
  matmul, trained, generated, failed = (result for _, result in results)
  assert matmul['flops_per_second'] == pytest.approx(2 * 64 ** 3 / matmul['seconds'])
  assert trained['images_per_second'] == pytest.approx(8 / trained['seconds_per_iteration'])
  assert trained['flops_per_second'] == pytest.approx(
      trained['flops_per_iteration'] / trained['seconds_per_iteration'])
  assert trained['image_shape'] == [43, 43, 1] and trained['memory_bytes_per_device'] > 0
  assert generated['images_per_second'] > 0
  assert 'does not split evenly over 2 devices' in failed['error']

  path = tmp_path / 'BENCHMARKS.md'
  path.write_text('# Benchmarks\n\nPreamble.\n\n## older entry\n\nold\n')
  benchmarking.record(str(path), benchmarking.report(results, 'test machine', 'python -m x'))
  text = path.read_text()
  assert text.index('Preamble.') < text.index('`jaxgan.benchmark` on test machine') < text.index(
      '## older entry')
  rows = [line for line in text.splitlines() if line.startswith('| ctgan_paper')]
  assert len(rows) == 2  # one training row, one generation row; the failed case is listed
  assert 'Failed: train ctgan_paper batch 7 on 2 device(s)' in text
  matmul_peak = f'float32 {matmul["flops_per_second"] / 1e9:,.1f} GFLOP/s'
  assert matmul_peak in text
  share = 100 * trained['flops_per_second'] / matmul['flops_per_second']
  assert f'| {share:.0f}% |' in rows[0]

