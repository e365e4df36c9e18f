/**
 * Stopped the way people stop it, on the interfaces servers have: Ctrl-C on a
 * terminal, `timeout`, SIGTERM to the process group (systemctl stop), kill -9;
 * names with dots and hashes, renames, the same name in two namespaces,
 * bridges and their ports, and a program --force replaced coming back.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { framesHex, ipv4Frame, testSources } from "../support/frames";
import { SENDER } from "../../scripts/lib/netns";
import { BIN, createVeth, kernelReady, leftovers, ndjson, pinsOf, ROOT, sh, start, useVeth, waitForSeen, xdpwatch } from "../support/kernel";

const PTY = join(ROOT, "test/support/pty_run.py");
const EMPTY_OBJECT = join(ROOT, "dist/bpf/empty.o");

/** Runs the binary on a pseudo-terminal; once its output matches `ready`, runs `meanwhile`, then presses Ctrl-C. */
async function onTerminal(args: string[], ready: string, meanwhile: () => Promise<void>): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(["python3", PTY, ready, "1.5", "--", BIN, ...args], { stdout: "pipe", stderr: "pipe" });
  await meanwhile();
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return JSON.parse(text) as { code: number; output: string };
}

async function untilPinned(iface: string): Promise<void> {
  for (let i = 0; i < 200 && !pinsOf(iface); i++) await Bun.sleep(25);
}

/** What is attached at an interface's XDP hook: [id, mode] pairs. */
async function hook(iface: string, ns?: string): Promise<[number, string][]> {
  const r = await sh([...(ns ? ["ip", "-n", ns] : ["ip"]), "-j", "link", "show", "dev", iface]);
  const xdp = JSON.parse(r.stdout)[0]?.xdp;
  if (!xdp) return [];
  const modes: Record<number, string> = { 1: "native", 2: "generic" };
  return (xdp.attached ?? [{ mode: xdp.mode, prog: xdp.prog }]).map((a: { mode: number; prog: { id: number } }) => [a.prog.id, modes[a.mode] ?? String(a.mode)]);
}

/** Someone else's program (the empty one bench measures against), attached in generic mode. */
async function attachOther(iface: string): Promise<number> {
  const r = await sh(["ip", "link", "set", "dev", iface, "xdpgeneric", "obj", EMPTY_OBJECT, "sec", "xdp"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return (await hook(iface))[0]![0];
}

async function childPids(pid: number): Promise<number[]> {
  const r = await sh(["pgrep", "-P", String(pid)]);
  return r.stdout.split("\n").filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!kernelReady)("every way a person stops it", () => {
  const lab = useVeth();

  test("watch, Ctrl-C on a terminal: summary, exit 0, nothing left", async () => {
    const r = await onTerminal(["watch", "-i", lab.veth.host], "watching", async () => {
      await untilPinned(lab.veth.host);
      await lab.veth.send([ipv4Frame({ src: "198.18.9.1" })]);
      await waitForSeen(lab.veth.host, 1);
    });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("198.18.9.1");
    expect(r.output).toMatch(/\^C[\s\S]*seen 1 · logged 1 · lost 0/);
    expect(r.output).not.toContain("error");
  }, 30_000);

  test("top, Ctrl-C on a terminal: the final table after ^C, summary, exit 0", async () => {
    const r = await onTerminal(["top", "-i", lab.veth.host, "--interval", "0.3"], "counting sources", async () => {
      await untilPinned(lab.veth.host);
      await lab.veth.send(testSources(3, 9).map((src) => ipv4Frame({ src })));
      await waitForSeen(lab.veth.host, 3);
    });
    expect(r.code, r.output).toBe(0);
    const afterCtrlC = r.output.slice(r.output.lastIndexOf("^C"));
    expect(afterCtrlC).toContain("SOURCE");
    for (const src of testSources(3, 9)) expect(afterCtrlC).toContain(src);
    expect(afterCtrlC).toContain("seen 3 · logged 0 · lost 0 · counted 3");
  }, 30_000);

  test.each([
    ["watch", ["--json"]],
    ["top", ["--json", "--interval", "0.3"]],
  ])("%s under `timeout`: the summary record, then timeout's own status", async (command, extra) => {
    const run = start([], { argv: ["timeout", "1.5", BIN, command, "-i", lab.veth.host, ...extra] });
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.9.2" })]);
    const { code, stdout } = await run.done;
    expect(code).toBe(124); // timeout's status when it had to stop the command
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: 1, exact: true, stopped_by: "signal" });
    const kept = await sh(["timeout", "--preserve-status", "0.8", BIN, command, "-i", lab.veth.host, ...extra]);
    expect(kept.code, kept.stderr).toBe(0);
  }, 30_000);

  test.each(["watch", "top"])("%s, SIGTERM to its process group (systemctl stop): summary, exit 0", async (command) => {
    const proc = Bun.spawn([BIN, command, "-i", lab.veth.host, "--json", ...(command === "top" ? ["--interval", "0.3"] : [])], {
      stdout: "pipe", stderr: "pipe", detached: true,
    });
    await untilPinned(lab.veth.host);
    await lab.veth.send([ipv4Frame({ src: "198.18.9.3" })]);
    await waitForSeen(lab.veth.host, 1);
    process.kill(-proc.pid, "SIGTERM");
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code, stderr).toBe(0);
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: 1, exact: true, stopped_by: "signal" });
  }, 30_000);

  test("SIGTERM to it and its bpftool at once (systemctl stop, KillMode=control-group): summary, exit 0", async () => {
    const run = start(["watch", "-i", lab.veth.host, "--json"]);
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.9.6" })]);
    await waitForSeen(lab.veth.host, 1);
    await Bun.sleep(300); // the reader's bpftool starts after the watching line
    for (const pid of [run.proc.pid, ...(await childPids(run.proc.pid))]) process.kill(pid, "SIGTERM");
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(0);
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: 1, logged: 1, exact: true, stopped_by: "signal" });
  }, 30_000);

  test("kill -9: its bpftool goes with it (no orphan); detach cleans the rest", async () => {
    const run = start(["watch", "-i", lab.veth.host]);
    await run.attached;
    // The reader's bpftool starts just after the watching line: on a busy machine, after this test has seen it.
    let helpers = await childPids(run.proc.pid);
    for (let i = 0; i < 100 && helpers.length === 0; i++) helpers = await Bun.sleep(20).then(() => childPids(run.proc.pid));
    expect(helpers.length).toBeGreaterThan(0);
    run.proc.kill("SIGKILL");
    await run.done;
    for (let i = 0; i < 100 && helpers.some(alive); i++) await Bun.sleep(20);
    expect(helpers.filter(alive)).toEqual([]);
    expect((await xdpwatch(["detach", "-i", lab.veth.host])).code).toBe(0);
  }, 30_000);

  test("watch | head -1: once head has its line, exits without waiting for another matching packet", async () => {
    const run = start([], { argv: ["bash", "-c", `${BIN} watch -i ${lab.veth.host} --src 198.18.9.5 | head -1`] });
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.9.5" })]);
    // No further matching packet will come: the closed pipe alone must end the run.
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("198.18.9.5");
    expect(stderr).toContain("seen 1");
  }, 15_000);
});

describe.skipIf(!kernelReady)("--block that would cut off everyone", () => {
  const lab = useVeth();

  test.each([["watch"], ["top"], ["attach"]])("%s --block 0.0.0.0/0 is refused without --yes, with one line saying why", async (command) => {
    const r = await xdpwatch([command, "-i", lab.veth.host, "--block", "0.0.0.0/0", ...(command === "attach" ? [] : ["--duration", "0.3"])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--block 0.0.0.0/0 would drop every source on ${lab.veth.host}`);
    expect(r.stderr).toContain("--yes");
    expect(await hook(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("with --yes it runs, and drops everything", async () => {
    const run = start(["watch", "-i", lab.veth.host, "--block", "0.0.0.0/0", "--block", "::/0", "--yes", "--json"]);
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.9.9" })]);
    await waitForSeen(lab.veth.host, 1);
    run.proc.kill("SIGINT");
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: 1, blocked: 1, logged: 0 });
  }, 30_000);
});

describe.skipIf(!kernelReady)("native mode refused for the MTU", () => {
  const lab = useVeth();

  test("the error says it is the MTU and where to lower it; auto mode still runs", async () => {
    await lab.veth.inNs(["ip", "link", "set", "dev", lab.veth.peer, "mtu", "9000"]);
    await sh(["ip", "link", "set", "dev", lab.veth.host, "mtu", "9000"]);
    const native = await xdpwatch(["watch", "-i", lab.veth.host, "--mode", "native", "--duration", "0.2"]);
    expect(native.code).toBe(1);
    expect(native.stderr).toContain("Peer MTU is too large");
    expect(native.stderr).toContain("hint: it is the MTU, not the driver: lower it on the other end of the veth pair");
    const auto = await xdpwatch(["watch", "-i", lab.veth.host, "--duration", "0.2"]);
    expect(auto.code, auto.stderr).toBe(0);
  }, 30_000);
});

describe.skipIf(!kernelReady)("--force puts back what it replaced, however the run ends", () => {
  const lab = useVeth({ leftovers: "unchecked" });

  const paths: [string, (iface: string) => Promise<{ code: number; text: string }>][] = [
    ["Ctrl-C on a terminal", async (iface) => {
      const r = await onTerminal(["watch", "-i", iface, "--force"], "watching", () => untilPinned(iface));
      return { code: r.code, text: r.output };
    }],
    ["SIGTERM to the process group", async (iface) => {
      const proc = Bun.spawn([BIN, "watch", "-i", iface, "--force"], { stdout: "pipe", stderr: "pipe", detached: true });
      await untilPinned(iface);
      await Bun.sleep(200);
      process.kill(-proc.pid, "SIGTERM");
      const [text, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      return { code, text };
    }],
    ["--duration", async (iface) => {
      const r = await xdpwatch(["top", "-i", iface, "--force", "--duration", "0.5"]);
      return { code: r.code, text: r.stderr };
    }],
    ["--count", async (iface) => {
      const run = start(["watch", "-i", iface, "--force", "--count", "1"]);
      await run.attached;
      await lab.veth.send([ipv4Frame({ src: "198.18.9.4" })]);
      const r = await run.done;
      return { code: r.code, text: r.stderr };
    }],
    ["kill -9, then detach", async (iface) => {
      const run = start(["watch", "-i", iface, "--force"]);
      await run.attached;
      run.proc.kill("SIGKILL");
      await run.done;
      const status = ndjson((await xdpwatch(["status", "--json"])).stdout).find((r) => r.iface === iface);
      expect(status).toMatchObject({ ours: true, by: "watch" });
      const r = await xdpwatch(["detach", "-i", iface]);
      return { code: r.code, text: r.stderr };
    }],
    ["attach --force, then detach", async (iface) => {
      const a = await xdpwatch(["attach", "-i", iface, "--force"]);
      expect(a.code, a.stderr).toBe(0);
      const r = await xdpwatch(["detach", "-i", iface]);
      return { code: r.code, text: r.stderr };
    }],
  ];

  test("ours replaced by someone meanwhile: not put back over theirs, an error, and kept pinned for the user", async () => {
    const iface = lab.veth.host;
    const other = await attachOther(iface);
    const run = start(["watch", "-i", iface, "--force"]);
    await run.attached;
    await sh(["ip", "-force", "link", "set", "dev", iface, "xdpgeneric", "obj", EMPTY_OBJECT, "sec", "xdp"]);
    const third = (await hook(iface))[0]![0];
    run.proc.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the program --force replaced on ${iface} (id ${other}) was not put back: ours was itself replaced since`);
    expect(await hook(iface)).toEqual([[third, "generic"]]);
    expect((await sh(["bpftool", "prog", "show", "id", String(other)])).code).toBe(0);
    const detach = await xdpwatch(["detach", "-i", iface]);
    expect(detach.code).toBe(1);
    expect(detach.stderr).toContain(`is still pinned at`);
    // A new run must not clear those pins as stale either.
    const again = await xdpwatch(["watch", "-i", iface, "--force", "--duration", "0.3"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`is still pinned at`);
    expect((await sh(["bpftool", "prog", "show", "id", String(other)])).code).toBe(0);
    await sh(["rm", "-r", pinsOf(iface)!.dir]);
  }, 30_000);

  test("attach and --force refused where bpffs would go with the process (ip netns exec)", async () => {
    const ns = `xwt-mnt${Math.random().toString(16).slice(2, 6)}`;
    await sh(["ip", "netns", "add", ns]);
    try {
      await sh(["ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
      await sh(["ip", "-n", ns, "link", "set", "v0", "up"]);
      const r = await sh(["ip", "netns", "exec", ns, BIN, "attach", "-i", "v0"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("would not outlive it");
      expect(r.stderr).toContain("nsenter --net=/run/netns/NAME");
      expect(await hook("v0", ns)).toEqual([]);
    } finally {
      await sh(["ip", "netns", "del", ns]);
    }
  }, 30_000);

  test.each(paths)("%s: the other program is back, same id, same mode", async (_, stopIt) => {
    const iface = lab.veth.host;
    const other = await attachOther(iface);
    const { code, text } = await stopIt(iface);
    expect(code, text).toBe(0);
    expect(text).toContain(`put back the XDP program --force replaced on ${iface} (id ${other}, generic mode)`);
    expect(await hook(iface)).toEqual([[other, "generic"]]);
    expect(pinsOf(iface)).toBeUndefined();
  }, 30_000);
});

describe.skipIf(!kernelReady)("interfaces as servers name them", () => {
  const id = Math.random().toString(16).slice(2, 6);
  const names = [`xw${id}.100`, `xw${id}#1`, `xw-${id}-a`, `xw${id}abcdefghi`];

  test.each(names)("%s: watch, top, attach, metrics, status, detach", async (name) => {
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(15);
    const veth = await createVeth({ host: name });
    try {
      const watch = start(["watch", "-i", name, "--json", "--count", "1"]);
      await watch.attached;
      await veth.send([ipv4Frame({ src: "198.18.10.1" })]);
      const w = await watch.done;
      expect(w.code, w.stderr).toBe(0);
      expect(ndjson(w.stdout)[0]).toMatchObject({ type: "packet", iface: name, src: "198.18.10.1" });

      const top = await xdpwatch(["top", "-i", name, "--json", "--duration", "0.4"]);
      expect(top.code, top.stderr).toBe(0);
      expect(ndjson(top.stdout).at(-1)).toMatchObject({ type: "summary", iface: name });

      const attach = await xdpwatch(["attach", "-i", name, "--sources"]);
      expect(attach.code, attach.stderr).toBe(0);
      await veth.send([ipv4Frame({ src: "198.18.10.2" })]);
      await waitForSeen(name, 1);
      const metrics = await xdpwatch(["metrics", "-i", name]);
      expect(metrics.code, metrics.stderr).toBe(0);
      expect(metrics.stdout).toContain(`xdpwatch_seen_packets_total{iface="${name}"} 1`);
      const status = ndjson((await xdpwatch(["status", "--json"])).stdout).find((r) => r.iface === name);
      expect(status).toMatchObject({ ours: true, by: "attach" });
      const detach = await xdpwatch(["detach", "-i", name]);
      expect(detach.code, detach.stderr).toBe(0);
      expect(await leftovers(name)).toEqual([]);
    } finally {
      await xdpwatch(["detach", "-i", name]);
      await veth.remove();
    }
  }, 30_000);
});

describe.skipIf(!kernelReady)("an interface renamed, or named alike in two namespaces", () => {
  test("renamed while watched: the run follows it, and leaves nothing on the new name", async () => {
    const veth = await createVeth();
    const renamed = `${veth.host.slice(0, 9)}rn`;
    try {
      const run = start(["watch", "-i", veth.host, "--json"]);
      await run.attached;
      await sh(["ip", "link", "set", "dev", veth.host, "down"]);
      await sh(["ip", "link", "set", "dev", veth.host, "name", renamed]);
      await sh(["ip", "link", "set", "dev", renamed, "up"]);
      await Bun.sleep(1500);
      await veth.send([ipv4Frame({ src: "198.18.11.1" })]);
      await waitForSeen(renamed, 1);
      run.proc.kill("SIGINT");
      const { code, stdout, stderr } = await run.done;
      expect(code, stderr).toBe(0);
      expect(stderr).toContain(`${veth.host} was renamed to ${renamed}; still watching it`);
      expect(ndjson(stdout).find((r) => r.type === "packet")).toMatchObject({ src: "198.18.11.1", iface: renamed });
      expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", iface: renamed, seen: 1, logged: 1 });
      expect(await leftovers(renamed)).toEqual([]);
    } finally {
      await sh(["ip", "link", "del", renamed]);
      await veth.remove();
    }
  }, 30_000);

  test("eth0 in two namespaces: both watched at once; an attach and detach in one never touch the other", async () => {
    const id = Math.random().toString(16).slice(2, 6);
    const made: { ns: string; host: string }[] = [];
    try {
      for (const side of ["a", "b"]) {
        const ns = `xwt-${id}${side}`;
        const host = `xwt${id}${side}`;
        await sh(["ip", "netns", "add", ns]);
        made.push({ ns, host });
        await sh(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns]);
        await sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        await sh(["sysctl", "-qw", `net/ipv6/conf/${host}/disable_ipv6=1`]);
        await sh(["ip", "link", "set", host, "up"]);
        await sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
      }
      const [a, b] = made as [{ ns: string; host: string }, { ns: string; host: string }];
      // nsenter keeps this mount namespace: both runs share /run and /sys/fs/bpf, as on a container host.
      const inNs = (ns: string, args: string[]) => ["nsenter", `--net=/run/netns/${ns}`, BIN, ...args];
      const runA = start([], { argv: inNs(a.ns, ["watch", "-i", "eth0", "--json"]) });
      const runB = start([], { argv: inNs(b.ns, ["watch", "-i", "eth0", "--json"]) });
      await Promise.all([runA.attached, runB.attached]);
      const sendFrom = (host: string, n: number, third: number) =>
        sh(["python3", SENDER, host], framesHex(testSources(n, third).map((src) => ipv4Frame({ src }))));
      await sendFrom(a.host, 3, 12);
      await sendFrom(b.host, 2, 13);
      await Bun.sleep(500);
      runB.proc.kill("SIGINT");
      const rb = await runB.done;
      expect(rb.code, rb.stderr).toBe(0);
      expect(ndjson(rb.stdout).filter((r) => r.type === "packet").map((r) => r.src).sort()).toEqual(testSources(2, 13));

      const attachB = await sh(inNs(b.ns, ["attach", "-i", "eth0"]));
      expect(attachB.code, attachB.stderr).toBe(0);
      const detachB = await sh(inNs(b.ns, ["detach", "-i", "eth0"]));
      expect(detachB.code, detachB.stderr).toBe(0);
      expect(await hook("eth0", b.ns)).toEqual([]);

      await sendFrom(a.host, 1, 14);
      await Bun.sleep(300);
      runA.proc.kill("SIGINT");
      const ra = await runA.done;
      expect(ra.code, ra.stderr).toBe(0);
      expect(ndjson(ra.stdout).filter((r) => r.type === "packet").map((r) => r.src).sort()).toEqual([...testSources(3, 12), ...testSources(1, 14)]);
      expect(ndjson(ra.stdout).at(-1)).toMatchObject({ type: "summary", seen: 4, logged: 4, exact: true });
      expect(await hook("eth0", a.ns)).toEqual([]);
    } finally {
      for (const m of made) {
        await sh(["ip", "link", "del", m.host]);
        await sh(["ip", "netns", "del", m.ns]);
      }
    }
  }, 40_000);
});

describe.skipIf(!kernelReady)("a bridge and its port", () => {
  async function bridgeLab(): Promise<{ ns: string; run(args: string[]): ReturnType<typeof start>; remove(): Promise<void> }> {
    const ns = `xwt-br${Math.random().toString(16).slice(2, 6)}`;
    await sh(["ip", "netns", "add", ns]);
    for (const cmd of [
      ["link", "add", "br0", "type", "bridge"],
      ["link", "add", "p0", "type", "veth", "peer", "name", "p1"],
      ["link", "set", "p0", "master", "br0"],
      ["link", "set", "br0", "up"],
      ["link", "set", "p0", "up"],
      ["link", "set", "p1", "up"],
    ]) await sh(["ip", "-n", ns, ...cmd]);
    return {
      ns,
      run: (args) => start([], { argv: ["ip", "netns", "exec", ns, BIN, ...args] }),
      remove: async () => void (await sh(["ip", "netns", "del", ns])),
    };
  }

  test.each([
    ["the port stops first", ["p0", "br0"]],
    ["the bridge stops first", ["br0", "p0"]],
  ])("port watched, then the bridge; %s: both exit 0, nothing left on either", async (_, order) => {
    const lab = await bridgeLab();
    try {
      const runs: Record<string, ReturnType<typeof start>> = {};
      runs.p0 = lab.run(["watch", "-i", "p0"]);
      await runs.p0.attached;
      runs.br0 = lab.run(["watch", "-i", "br0"]);
      await runs.br0.attached;
      const bridgeProg = (await hook("br0", lab.ns))[0]![0];
      const [first, second] = order as [string, string];
      runs[first]!.proc.kill("SIGINT");
      const r1 = await runs[first]!.done;
      expect(r1.code, r1.stderr).toBe(0);
      if (first === "p0") {
        expect(r1.stderr).toContain("br0 above p0 has an XDP program");
        expect(await hook("br0", lab.ns)).toEqual([[bridgeProg, "generic"]]);
      }
      runs[second]!.proc.kill("SIGINT");
      const r2 = await runs[second]!.done;
      expect(r2.code, r2.stderr).toBe(0);
      expect(await hook("p0", lab.ns)).toEqual([]);
      expect(await hook("br0", lab.ns)).toEqual([]);
    } finally {
      await lab.remove();
    }
  }, 30_000);

  test("port and bridge stopped at the same moment: nothing left on either", async () => {
    const lab = await bridgeLab();
    try {
      const port = lab.run(["watch", "-i", "p0"]);
      await port.attached;
      const bridge = lab.run(["watch", "-i", "br0"]);
      await bridge.attached;
      port.proc.kill("SIGTERM");
      bridge.proc.kill("SIGTERM");
      const [rp, rb] = await Promise.all([port.done, bridge.done]);
      expect(rp.code, rp.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      expect(await hook("p0", lab.ns)).toEqual([]);
      expect(await hook("br0", lab.ns)).toEqual([]);
    } finally {
      await lab.remove();
    }
  }, 30_000);

  test("the port after the bridge: refused, naming the bridge and what to do", async () => {
    const lab = await bridgeLab();
    try {
      const bridge = lab.run(["watch", "-i", "br0"]);
      await bridge.attached;
      const port = await lab.run(["watch", "-i", "p0"]).done;
      expect(port.code).toBe(1);
      expect(port.stderr).toContain("br0, the device above p0, has an XDP program");
      expect(port.stderr).toContain("watch br0 instead");
      bridge.proc.kill("SIGINT");
      expect((await bridge.done).code).toBe(0);
      expect(await hook("p0", lab.ns)).toEqual([]);
    } finally {
      await lab.remove();
    }
  }, 30_000);
});

