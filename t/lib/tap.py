"""TAP output for the Python tests: the one helper every test script uses.

Each check prints "ok N - name" or "not ok N - name" with the failure's detail
as "#" lines; done() adds a final check that no daemon started by the script
left a sanitizer or valgrind report in its log, prints the plan and exits.
"""

import sys
import traceback

# Sanitizer and valgrind reports found in the logs of every daemon this process
# started (daemon.py appends to it); done() turns them into one failed check.
sanitizer_reports = []


class Tap:
    """TAP output: each check prints a line; done() prints the plan and exits."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=""):
        # A name of several lines (an exception's message) would break the TAP
        # stream: its first line names the check, the rest joins the detail.
        name, _, rest = str(name).partition("\n")
        if rest:
            detail = rest + ("\n" + str(detail) if detail else "")
        self.n += 1
        if not cond:
            self.failed += 1
        print(f"{'' if cond else 'not '}ok {self.n} - {name}", flush=True)
        if not cond and detail:
            for line in str(detail).splitlines()[-30:]:
                print(f"#   {line}")
        return cond

    def eq(self, got, want, name, detail=""):
        return self.ok(got == want, name, f"got:  {got!r}\nwant: {want!r}" + (f"\n{detail}" if detail else ""))

    def skip(self, name, reason):
        """A check that cannot run here, with the reason (TAP's SKIP directive)."""
        self.n += 1
        print(f"ok {self.n} - {name} # SKIP {reason}", flush=True)

    def run(self, name, fn, *args):
        """Run a test function; an exception is one failed check with its message."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report any failure as TAP
            self.ok(False, f"{name}: {type(e).__name__}: {e}", traceback.format_exc())

    def done(self):
        self.ok(not sanitizer_reports, "no sanitizer report in any daemon log", "\n".join(sanitizer_reports[:20]))
        print(f"1..{self.n}")
        sys.exit(1 if self.failed else 0)
