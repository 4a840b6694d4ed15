"""Build-time settings of the Tidewater station firmware.

Values here are defaults; a station's own alarm threshold is set in the field with the
`set-threshold` command and kept in flash, so it survives a firmware update."""

SAMPLE_INTERVAL_S = 300  # one reading every five minutes
SUMMARY_INTERVAL_S = 3600  # hourly LoRa summary to the gateway
SD_RETENTION_DAYS = 7

# Pressure sensor
SENSOR_I2C_ADDRESS = 0x40
WATER_DENSITY_KG_M3 = 1012.0  # brackish water in the estuary, measured 2022
GRAVITY_M_S2 = 9.817

# Alarm logic (see alarm.py)
ALARM_CONFIRM_READINGS = 3  # consecutive readings above threshold before alarming
ALARM_HYSTERESIS_M = 0.05
DEFAULT_ALARM_THRESHOLD_M = None  # must be set per station; the firmware refuses to alarm without one

# Power
LOW_BATTERY_V = 11.6
SLEEP_WHEN_BATTERY_BELOW_V = 11.2
