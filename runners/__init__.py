"""How a job runs: Beam pipeline options per runner (direct, Dataflow, Flink),
the in-pipeline finish of Flex launches, run dates, progress lines and
alerts."""
