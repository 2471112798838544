"""Test set-up: 4 fake CPU devices, and a compilation cache shared by the tests of one session.

The environment must be set before jax is imported. Many tests build the same tiny models and
steps again (two runs compared bit for bit, a resumed run); the persistent compilation cache lets
them reuse XLA's compiled programs instead of compiling each one again.
"""

import os
import tempfile

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # noqa: E402  pylint: disable=g-import-not-at-top

jax.config.update('jax_compilation_cache_dir', tempfile.mkdtemp(prefix='jaxgan-test-xla-'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
