"""The floor for an empty notebook: a bare jupyter_client kernel start, one cell, a shutdown that reaps the kernel.

ipykernel's own launcher with its history in memory and its sockets on IPC, as nbrunner's kernel has them; nothing
read, checked or written.
"""

import os
import tempfile

from jupyter_client.manager import KernelManager

with tempfile.TemporaryDirectory() as folder:
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "k"))
    km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"])
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kc.execute_interactive("1", timeout=60)
    km.request_shutdown()
    km.finish_shutdown(pollinterval=0.01)  # waits until the kernel has exited; reaped, so its CPU is counted
    km.cleanup_resources()
    kc.stop_channels()
