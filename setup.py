"""The package Dataflow workers install (--setup_file=./setup.py).

Local development installs the exact versions in requirements.lock (see the
Makefile); this file states the compatible ranges of the same stack.
"""

import setuptools

setuptools.setup(
    name='beam-data-validation',
    version='0.1.0',
    description=('Batch data validation for ML data on Apache Beam and '
                 'Dataflow: TFDV statistics, schemas, drift and skew.'),
    python_requires='>=3.10,<3.12',
    packages=setuptools.find_packages(include=['beam_jobs', 'beam_jobs.*',
                                               'transforms', 'transforms.*',
                                               'runners', 'runners.*',
                                               'settings', 'settings.*',
                                               'report', 'report.*',
                                               'settings', 'settings.*',
                                               'conf', 'conf.*']),
    package_data={'conf': ['*.yaml', '*/*.yaml']},
    include_package_data=True,
    install_requires=[
        'tensorflow-data-validation==1.16.1',
        'tfx-bsl==1.16.1',
        'tensorflow-metadata==1.16.1',
        'apache-beam[gcp]==2.65.0',
        'pyarrow>=10,<11',
        'hydra-core>=1.3,<1.4',
        'google-cloud-bigquery>=3,<4',
        'duckdb>=1.1,<1.5',
        # the vectorized statistics engine (transforms/engine)
        'datasketches>=5.2,<6',
    ],
)
