"""Devices: registration, presence (heartbeats), forgetting one."""
