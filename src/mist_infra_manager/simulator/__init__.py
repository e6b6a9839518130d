"""A Mist API simulator: real HTTP on loopback, a deterministic org, faults on demand."""

from mist_infra_manager.simulator.mist_simulator import MistSimulator

__all__ = ["MistSimulator"]
