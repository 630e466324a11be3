"""The report kernel: ipykernel, without the line it logs when it is shut down.

jupyter_client interrupts a kernel before every shutdown (SIGINT), and ipykernel logs
"KeyboardInterrupt caught in kernel" at ERROR level when that interrupt lands in its event
loop: one alarming, meaningless stderr line per render. This launcher drops exactly that
record; every other kernel error is still printed. The kernelspec (reports.render) runs
`python -m incidentlab.reports.kernel -f {connection_file}`.
"""

from __future__ import annotations

import logging
from pathlib import Path

SHUTDOWN_NOISE = "KeyboardInterrupt caught in kernel"


class ShutdownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(SHUTDOWN_NOISE)


def quiet(logger_name: str = "IPKernelApp") -> None:
    logging.getLogger(logger_name).addFilter(ShutdownNoise())


def main() -> None:
    import sys

    quiet()
    # As ipykernel_launcher does: no cwd on sys.path while the kernel loads (the shell puts
    # it back), so a file in the report's folder cannot shadow a module.
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
