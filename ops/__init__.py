"""What operators look at: Grafana dashboards, Prometheus alert rules and their provisioning, built from code."""
