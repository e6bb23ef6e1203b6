"""Configuration at the job edge: the typed schema of every config group and
job config (registered in Hydra's ConfigStore), the checks that turn a
composed config into typed specs, and the frozen settings each job parses its
config into once, at its start (``job.parse``)."""
