"""`make bench`: every benchmark in turn."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent

for script in ("trees.py", "mcu_targets.py", "micropython_speed.py", "dsp_sensor.py", "dsp_audio.py"):
    print(f"== {script}", flush=True)
    sys.argv = [str(HERE / script)]
    runpy.run_path(str(HERE / script), run_name="__main__")
