"""Jobs: one module per job, started as ``python -m beam_jobs.<job> key=value``."""

import os
import warnings

from transforms import import_hooks

# TensorFlow is imported by TFDV; keep its C++ start-up chatter off the console.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Google client libraries warn about future Python and grpc support at import.
warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\.')
# TFDV writes a notice about its optional notebook display helpers (IPython)
# to stderr when imported; jobs never use them. TFDV is imported only by the
# code that needs it (the stats job with stats.engine=vectorized never does),
# so the notice is silenced whenever that happens.
import_hooks.quiet_import('tensorflow_data_validation.utils.display_util')

# The typed config schema, before Hydra composes any job config.
import settings.schema  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
