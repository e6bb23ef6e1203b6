"""Configuration at the job edge: the typed schema of every config group and
job config (registered in Hydra's ConfigStore), and the checks that turn a
composed config into typed specs."""
