"""Jobs: one module per job, started as ``python -m beam_jobs.<job> key=value``."""

import contextlib
import io
import os
import warnings

# TensorFlow is imported by TFDV; keep its C++ start-up chatter off the console.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Google client libraries warn about future Python and grpc support at import.
warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\.')
# TFDV writes a notice about its optional notebook display helpers (IPython)
# to stderr when imported; jobs never use them.
with contextlib.redirect_stderr(io.StringIO()):
  import tensorflow_data_validation.utils.display_util  # pylint: disable=unused-import

# The typed config schema, before Hydra composes any job config.
import settings.schema  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
