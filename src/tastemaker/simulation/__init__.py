"""Simulated A/B tests: synthetic users with known tastes served by the real engine."""

from tastemaker.simulation.ab import SimulationConfig, SimulationReport, simulate_ab
from tastemaker.simulation.users import ChoiceModel

__all__ = ["ChoiceModel", "SimulationConfig", "SimulationReport", "simulate_ab"]
