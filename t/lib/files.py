"""Files that a running process (policyd on SIGHUP or a file change, a DNS
server on reload) may read at any moment."""

import os


def write_atomic(path, data, mode=0o644):
    """Write `data` (text or bytes) to path so that no reader ever sees it half
    written: into path.tmp, then renamed over path."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    os.chmod(tmp, mode)
    os.replace(tmp, path)
