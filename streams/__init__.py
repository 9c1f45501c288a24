"""The workers: the Faust app and pipeline, worker roles, ordered input; domain math, the risk engine, agents, sources."""
