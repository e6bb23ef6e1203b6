"""Errors that end a job with one clear line instead of a traceback."""

# The tagged output of a read step that carries malformed rows (as JSON) to
# the dead letters instead of failing the run; shared by every source.
MALFORMED_TAG = 'malformed'


class UserError(Exception):
  """A problem in the user's input or configuration.

  The message names the input (a path or a config key) and the problem. Jobs
  print it as a single line on stderr and exit with the failure code.
  """


class EmptySpanError(UserError):
  """The span's files exist but hold no rows."""
