"""The file the Flex Template launcher runs (FLEX_TEMPLATE_PYTHON_PY_FILE).

Kept outside the package so that its folder on sys.path holds no module that
could shadow another; the work is in beam_jobs/flex_launcher.py.
"""

from beam_jobs import flex_launcher

if __name__ == '__main__':
  flex_launcher.main()
