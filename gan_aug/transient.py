"""Which failures are worth retrying: the ones that may pass on their own (a flaky network share,
a busy file, a dropped connection), not the ones that will fail the same way again (bad data, a
full disk, a bug)."""
from __future__ import annotations

import errno

TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.ETIMEDOUT, errno.ECONNRESET,
                    errno.ECONNREFUSED, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                    errno.ESTALE}


def is_transient(error: BaseException | None) -> bool:
    """True for connection drops, timeouts and I/O errors a retry may clear; False for everything else,
    a full disk (ENOSPC) and a missing file included."""
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if isinstance(error, OSError):
        return error.errno in TRANSIENT_ERRNOS
    return False
