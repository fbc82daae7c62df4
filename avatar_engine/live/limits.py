"""Thread pools held to one thread while the live loop runs, and given back as they were when it ends.

On a 2-core machine the loop's own threads (capture, track, main) and llvmpipe's rasteriser threads already
use every core. A library that fans a small job out to its own pool there costs more than it saves: OpenBLAS's
and OpenCV's idle workers spin-wait for milliseconds after each parallel call, on the cores the rasteriser
needs (measured for OpenBLAS in the renderer: +7 ms a frame). The limits are process-wide while they last (an
embedding application's own BLAS or OpenCV calls on other threads run single-threaded too during the run);
`PipelineOptions.limit_threads=False` leaves them alone.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def single_threaded_pools():
    """BLAS (through threadpoolctl) and OpenCV (if already imported) limited to one thread inside the block."""
    from threadpoolctl import ThreadpoolController

    cv2 = sys.modules.get("cv2")  # a source opened it; never import it just to limit it
    before = cv2.getNumThreads() if cv2 is not None and hasattr(cv2, "setNumThreads") else None
    with ThreadpoolController().limit(limits=1, user_api="blas"):
        if before is not None:
            cv2.setNumThreads(1)
        try:
            yield
        finally:
            if before is not None:
                cv2.setNumThreads(before)
