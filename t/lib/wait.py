"""One way for the tests to wait for something they can only observe: poll_until.

A test waits for an event, never for a length of time. An event that arrives on
a descriptor (a reply on a socket, a line on a pipe) is waited for by a read
with a timeout. One that can only be observed (a log line in a file, a count in
/proc, a query in a DNS server's log, a process that exits) is asked for with
poll_until, every `interval` seconds, bounded both in time and in the number of
calls, so that no wait can hang a test.

Two contracts, and the call says which:

    poll_until(ready, 5)                   for a check: the first truthy value
                                           of ready(), or its last (falsy) one
                                           once the time is up; never raises:
                                           t.ok(poll_until(...), "...")
    poll_until(ready, 5, what="X")         for a step a scenario cannot go on
                                           without (a server up, a file read):
                                           raises AssertionError "no X within
                                           5 s" once the time is up

The same split holds for the daemon's log (lib/daemon.py): logged() returns
the match or None, wait_log() raises.
"""

import time


def poll_until(ready, timeout, interval=0.01, what=None, gone=None, detail=None):
    """Call ready() until it returns a truthy value, and return that value.

    At most every `interval` seconds, for at most `timeout` seconds and
    timeout / interval + 2 calls. `gone`, if given, says that the event can no
    longer come (the process that would make it has exited): the wait ends at
    once, after one last call of ready(). When the wait ends without a truthy
    value: without `what`, ready()'s last value is returned; with `what` (the
    awaited thing, for the message), AssertionError is raised, with detail()'s
    text (the log's tail, say) when a detail function is given."""
    deadline = time.monotonic() + timeout
    value = None
    ended = "within %g s" % timeout
    for _ in range(int(timeout / interval) + 2):
        value = ready()
        if value:
            return value
        if gone is not None and gone():
            value = ready()  # what it did before it went
            if value:
                return value
            ended = "before it went away"
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
    if what is None:
        return value
    message = "no %s %s" % (what, ended)
    if detail is not None:
        message += ":\n" + str(detail())
    raise AssertionError(message)
