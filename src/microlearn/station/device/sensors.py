# Sensor drivers for the station. A driver is any object with
#
#   fields      tuple of field names, e.g. ("x", "y", "z")
#   read(t_ms)  -> a tuple of floats, one per field (called once per sample period)
#
# A real accelerometer driver reads its I2C/SPI registers in read(); see docs/station.md. The simulated
# sources below make repeatable data on the host (and on a board without sensors) from a seed.
import math

M32 = 0xFFFFFFFF


class _Noise:
    def __init__(self, seed):
        self.s = (seed & M32) or 1

    def uniform(self):
        s = self.s
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        self.s = s
        return s / 4294967296.0

    def gauss(self):
        return math.sqrt(-2.0 * math.log(self.uniform() + 1e-12)) * math.cos(2.0 * math.pi * self.uniform())


class SimAccelerometer:
    """A simulated 3-axis accelerometer (in g): still, walking (1.8 Hz steps) or shaking (6 Hz), switching
    activity every 20-60 s; gravity on z."""

    fields = ("x", "y", "z")
    ACTIVITIES = ("still", "walk", "shake")

    def __init__(self, seed=1):
        self.n = _Noise(seed)
        self.activity = 0
        self.until = None

    def read(self, t_ms):
        if self.until is None or t_ms >= self.until:
            self.activity = int(self.n.uniform() * 3) % 3
            self.until = t_ms + 20000 + int(self.n.uniform() * 40000)
        s = t_ms / 1000.0
        a = self.activity
        if a == 0:
            amp, f = 0.0, 0.0
        elif a == 1:
            amp, f = 0.35, 1.8
        else:
            amp, f = 1.2, 6.0
        w = 2.0 * math.pi * f * s
        g = self.n.gauss
        return (
            amp * math.sin(w) + 0.02 * g(),
            0.5 * amp * math.cos(w) + 0.02 * g(),
            1.0 + 0.8 * amp * math.sin(2.0 * w) + 0.02 * g(),
        )


class SimSoundLevel:
    """A simulated sound level meter (dB(A)): a quiet room near 35 dB with speech bursts and a door
    slam now and then."""

    fields = ("level",)

    def __init__(self, seed=1):
        self.n = _Noise(seed)

    def read(self, t_ms):
        s = t_ms / 1000.0
        base = 35.0 + 2.0 * math.sin(2.0 * math.pi * s / 600.0)
        speech = 20.0 * max(0.0, math.sin(2.0 * math.pi * s / 47.0)) ** 4
        slam = 45.0 if self.n.uniform() < 0.002 else 0.0
        return (base + speech + slam + 1.5 * self.n.gauss(),)


SOURCES = {"accelerometer": SimAccelerometer, "sound": SimSoundLevel}
