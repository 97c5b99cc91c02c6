"""`make bench`: every benchmark in turn.

micropython_speed.py also compares with emlearn_trees on a MicroPython unix port when
$MICROLEARN_UNIX_MICROPYTHON and $MICROLEARN_EMLEARN_TREES_MPY name the binary and the module (its docstring
says how to build both); without them that part is skipped with a message. neighbors_kmeans_micropython.py
runs on the same unix port (and times emlearn_neighbors with $MICROLEARN_EMLEARN_NEIGHBORS_MPY), or says
it is skipped; so does keras_cnn_micropython.py.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent

for script in (
    "trees.py",
    "trees_packed.py",
    "trees_trace.py",
    "mcu_targets.py",
    "micropython_speed.py",
    "neighbors_kmeans_micropython.py",
    "keras_cnn_micropython.py",
    "dsp_sensor.py",
    "dsp_audio.py",
    "keras_models.py",
):
    print(f"== {script}", flush=True)
    sys.argv = [str(HERE / script)]
    runpy.run_path(str(HERE / script), run_name="__main__")
