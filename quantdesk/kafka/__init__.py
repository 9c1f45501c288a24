"""Kafka plumbing shared by every service: the topic catalogue, the publisher, the group-less reader, progress."""
