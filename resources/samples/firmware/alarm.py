"""Flood alarm: raise it when the level stays above the station's threshold."""

from __future__ import annotations

from dataclasses import dataclass

from config import ALARM_CONFIRM_READINGS, ALARM_HYSTERESIS_M


@dataclass
class AlarmState:
    threshold_m: float
    above: int = 0
    active: bool = False


def level_from_pressure(pressure_pa: float, density: float, gravity: float) -> float:
    """Water column height in metres over the sensor."""
    return pressure_pa / (density * gravity)


def update(state: AlarmState, level_m: float) -> bool:
    """Feed one reading; returns True when the alarm turns on."""
    if state.active:
        if level_m < state.threshold_m - ALARM_HYSTERESIS_M:
            state.active = False
            state.above = 0
        return False
    state.above = state.above + 1 if level_m > state.threshold_m else 0
    if state.above >= ALARM_CONFIRM_READINGS:
        state.active = True
        return True
    return False
