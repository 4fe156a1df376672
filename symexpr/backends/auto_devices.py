"""The device engines backend="auto" chooses among, each made on first use (importing pyopencl and
making a context cost 100 ms or more, which a program whose calls stay small never pays)."""
from __future__ import annotations

import sys
from _thread import allocate_lock  # (threading.Lock: see backends/numpy.py)


class Lazy:
    """A device engine, made once on first use (None where it cannot be); copies share it."""

    def __init__(self, make):
        self.make = make
        self.lock = allocate_lock()
        self.done = False
        self.engine = None

    def get(self):
        if not self.done:
            with self.lock:
                if not self.done:
                    self.engine = self.make()
                    self.done = True
        return self.engine


def is_device_array(value) -> bool:
    # Without importing pyopencl: a device array can only exist once the user imported it.
    array = sys.modules.get("pyopencl.array")
    return array is not None and isinstance(value, array.Array)


class Device:
    """A device engine auto may choose: "opencl" (the device the program was compiled for, or the
    default one) or "basic" (a low-latency device for small calls, where the process has one). Made
    on first use, or aside in a thread once a background build says it is worth it; None where it
    cannot be made."""

    def __init__(self, name: str, make, selector):
        self.name = name
        self.lazy = Lazy(make)
        self.selector = selector  # how the background worker finds the device when the engine is not made
        self.maker = None         # the thread making the engine aside, once started

    def made(self) -> bool:
        return self.lazy.done and self.lazy.engine is not None

    def make_aside(self) -> bool:
        """Start making the engine in a thread (not in a call: importing pyopencl and making a context take
        100 ms or more); True once it is made (or found impossible)."""
        if not self.lazy.done and self.maker is None:
            import threading  # (a thread only where a device engine is made)

            self.maker = threading.Thread(target=self.lazy.get, daemon=True,
                                          name=f"symexpr: making the {self.name} engine")
            self.maker.start()
        return self.lazy.done


# How explain() names each engine.
LABELS = {"numpy": "the NumPy engine", "opencl": "the OpenCL engine",
           "basic": "the OpenCL engine on the low-latency device"}
