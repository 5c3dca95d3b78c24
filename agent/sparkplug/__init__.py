"""Sparkplug B 3.0 edge node: the gateway as a node of a SCADA/IIoT host (docs/sparkplug.md)."""
