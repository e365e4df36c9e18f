"""Runs a command on a pseudo-terminal and presses Ctrl-C, as a person at a terminal does.

usage: pty_run.py WAIT_FOR_REGEX SECONDS_AFTER -- ARGV...
Waits until the output matches WAIT_FOR_REGEX, waits SECONDS_AFTER more, writes ^C to the
terminal (its line discipline signals the whole foreground process group), then reads until
the command exits. Prints one JSON object: {"code": exit code, "output": everything shown}.
"""
import json, os, pty, re, select, sys, time

pattern, after = re.compile(sys.argv[1]), float(sys.argv[2])
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

out = b""
def read_until(deadline, done=lambda: False):
    global out
    while time.time() < deadline and not done():
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
    return True

read_until(time.time() + 20, lambda: pattern.search(out.decode(errors="replace")) is not None)
read_until(time.time() + after)
os.write(fd, b"\x03")
read_until(time.time() + 20)
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "output": out.decode(errors="replace")}))
