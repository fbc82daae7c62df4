"""Thread pools held to one thread while the live loop or a build runs, and given back as they were after.

On a 2-core machine the loop's own threads (capture, track, main) and llvmpipe's rasteriser threads already use
every core, and the builder's solves are small (a few hundred unknowns). A library that fans a small job out to
its own pool there costs more than it saves: OpenBLAS's and OpenCV's idle workers spin-wait for milliseconds
after each parallel call, on the cores the other work needs (measured: +7 ms a rendered frame; in the builder's
fit, with other work on the machine, 113 ms per small solve and 8 s per fit instead of 1.4 s). The limits are
process-wide while they last (an embedding application's own BLAS or OpenCV calls on other threads run
single-threaded too meanwhile); `PipelineOptions.limit_threads=False` leaves them alone in the live loop.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager


_CONTROLLER = []
_CONTROLLER_LOCK = threading.Lock()


def blas_controller():
    """The process's threadpoolctl controller, made on first use. Making one walks the loaded libraries
    (dl_iterate_phdr, the dynamic loader's lock held) and calls back into Python; two builds on two threads did
    that while the other thread, holding the GIL, loaded a library (PIL's AVIF plugin): a deadlock, 3 runs in 6.
    So it is made again only on the main thread, and only once modules were imported since: a controller made
    before `import cv2` never limited the OpenBLAS that OpenCV brings."""
    with _CONTROLLER_LOCK:
        modules = len(sys.modules)
        stale = bool(_CONTROLLER) and _CONTROLLER[0][0] != modules \
            and threading.current_thread() is threading.main_thread()
        if not _CONTROLLER or stale:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER[:] = [(modules, ThreadpoolController())]
        return _CONTROLLER[0][1]


@contextmanager
def single_threaded_pools():
    """BLAS (through threadpoolctl) and OpenCV (if already imported) limited to one thread inside the block."""
    cv2 = sys.modules.get("cv2")  # a source opened it; never import it just to limit it
    before = cv2.getNumThreads() if cv2 is not None and hasattr(cv2, "setNumThreads") else None
    with blas_controller().limit(limits=1, user_api="blas"):
        if before is not None:
            cv2.setNumThreads(1)
        try:
            yield
        finally:
            if before is not None:
                cv2.setNumThreads(before)
