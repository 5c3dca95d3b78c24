"""Anomaly detection over every channel (numpy adapter): generic detector, street-light faults, events."""

from agent.anomaly.detector import AnomalyDetector

__all__ = ["AnomalyDetector"]
