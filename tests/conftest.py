"""Test set-up: 4 fake CPU devices for the multi-device tests (must precede importing jax)."""

import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
