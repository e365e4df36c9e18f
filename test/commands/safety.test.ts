/** Safe on a production server: other programs, ownership, every way a run can end. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ipv4Frame, testSources } from "../support/frames";
import { HAND } from "../support/corpus";
import { BIN, record, createVeth, kernelReady, leftovers, ndjson, pinsOf, sh, start, xdpwatch, useVeth } from "../support/kernel";

const work = mkdtempSync(join(tmpdir(), "xw-safety-"));
const FOREIGN = join(work, "foreign.o");
const hasClang = Bun.which("clang") !== null;

beforeAll(async () => {
  if (!hasClang || !kernelReady) return;
  writeFileSync(
    join(work, "foreign.c"),
    `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int someone_elses(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
`,
  );
  const arch = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  const r = await sh(["clang", "-O2", "-g", "-target", "bpf", `-I/usr/include/${arch}`, "-c", join(work, "foreign.c"), "-o", FOREIGN]);
  if (r.code !== 0) throw new Error(r.stderr);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function attachForeign(iface: string): Promise<number> {
  const r = await sh(["ip", "link", "set", "dev", iface, "xdpgeneric", "obj", FOREIGN, "sec", "xdp"]);
  if (r.code !== 0) throw new Error(r.stderr);
  const link = JSON.parse((await sh(["ip", "-j", "link", "show", "dev", iface])).stdout)[0];
  return link.xdp.prog.id as number;
}

async function attachedIds(iface: string): Promise<number[]> {
  const link = JSON.parse((await sh(["ip", "-j", "link", "show", "dev", iface])).stdout)[0];
  return link.xdp ? (link.xdp.attached ?? [link.xdp]).map((a: { prog: { id: number } }) => a.prog.id) : [];
}

describe.skipIf(!kernelReady)("safety on a real veth pair", () => {
  const lab = useVeth({ leftovers: "unchecked" });

  test.skipIf(!hasClang)("another program is never replaced or removed, only named", async () => {
    const id = await attachForeign(lab.veth.host);
    for (const cmd of [["watch", "--duration", "1"], ["attach"]]) {
      const r = await xdpwatch([...cmd, "-i", lab.veth.host]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`already has an XDP program that xdpwatch did not attach (id ${id}, name someone_elses`);
      expect(r.stderr).toContain("--force");
    }
    const detach = await xdpwatch(["detach", "-i", lab.veth.host]);
    expect(detach.code).toBe(0);
    expect(detach.stderr).toContain(`left alone: ${lab.veth.host} has program id ${id}`);
    expect(await attachedIds(lab.veth.host)).toEqual([id]);
    const status = ndjson((await xdpwatch(["status", "--json"])).stdout).find((r) => r.iface === lab.veth.host);
    expect(status).toMatchObject({ prog_id: id, name: "someone_elses", ours: false });
  }, 30_000);

  test.skipIf(!hasClang)("--force replaces it, says what it replaced, and puts it back at exit", async () => {
    const id = await attachForeign(lab.veth.host);
    const r = await xdpwatch(["watch", "-i", lab.veth.host, "--force", "--duration", "0.5"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`--force: replaced the XDP program on ${lab.veth.host} (id ${id}, name someone_elses`);
    expect(r.stderr).toContain(`put back the XDP program --force replaced on ${lab.veth.host} (id ${id}, generic mode)`);
    expect(await attachedIds(lab.veth.host)).toEqual([id]);
    expect(await leftovers(lab.veth.host)).toEqual([`XDP program still attached to ${lab.veth.host}`]);
  }, 30_000);

  test.skipIf(!hasClang)("--force in another mode than the other program's is refused, and the other program stays", async () => {
    const id = await attachForeign(lab.veth.host);
    const r = await xdpwatch(["watch", "-i", lab.veth.host, "--force", "--mode", "native", "--duration", "0.5"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--force replaces the program in the mode it is attached in (generic), not native");
    expect(await attachedIds(lab.veth.host)).toEqual([id]);
  }, 30_000);

  test("kill -9, then the interface deleted: detach still removes the pins", async () => {
    const run = start(["watch", "-i", lab.veth.host]);
    await run.attached;
    run.proc.kill("SIGKILL");
    await run.done;
    await sh(["ip", "link", "del", lab.veth.host]);
    const r = await xdpwatch(["detach", "-i", lab.veth.host]);
    expect(r.code, r.stderr).toBe(0);
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("one watcher per interface; two interfaces are watched independently", async () => {
    const other = await createVeth();
    try {
      const a = start(["watch", "-i", lab.veth.host, "--json", "-c", "3"]);
      const b = start(["watch", "-i", other.host, "--json", "-c", "2"]);
      await Promise.all([a.attached, b.attached]);
      const second = await xdpwatch(["watch", "-i", lab.veth.host, "--duration", "1"]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/already watched by xdpwatch \(pid \d+\)/);
      await lab.veth.send(testSources(3, 30).map((src) => ipv4Frame({ src })));
      await other.send(testSources(2, 40).map((src) => ipv4Frame({ src })));
      const [ra, rb] = await Promise.all([a.done, b.done]);
      expect(ndjson(ra.stdout).filter((r) => r.type === "packet").map((p) => p.src).sort()).toEqual(testSources(3, 30));
      expect(ndjson(rb.stdout).filter((r) => r.type === "packet").map((p) => p.src).sort()).toEqual(testSources(2, 40));
      expect(await leftovers(other.host)).toEqual([]);
    } finally {
      await other.remove();
    }
  }, 30_000);

  test.each(["SIGTERM", "SIGHUP", "SIGINT"] as const)("%s: detach, summary, exit 0", async (signal) => {
    const run = start(["watch", "-i", lab.veth.host, "--json"]);
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.8.1" })]);
    await Bun.sleep(200);
    run.proc.kill(signal);
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: 1, logged: 1, exact: true, stopped_by: "signal" });
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("stdout closed (| head -2): detaches and exits at once", async () => {
    const run = start([], { argv: ["bash", "-c", `${BIN} watch -i ${lab.veth.host} | head -2`] });
    await run.attached;
    // Like any Unix writer, it learns that the reader left on its next write: keep traffic coming.
    let finished = false;
    void run.done.then(() => (finished = true));
    for (let i = 0; i < 50 && !finished; i++) {
      await lab.veth.send(testSources(5, 50).map((src) => ipv4Frame({ src })));
      await Bun.sleep(100);
    }
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    expect(stdout.trim().split("\n")).toHaveLength(2);
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("bpftool failing under a running watch (its maps unpinned): one line, detached, exit 1", async () => {
    const run = start(["watch", "-i", lab.veth.host, "--json"]);
    await run.attached;
    await sh(["rm", "-rf", pinsOf(lab.veth.host)!.mapDir]);
    await lab.veth.send([ipv4Frame({ src: "198.18.8.8" })]);
    const { code, stderr } = await run.done;
    expect(code).toBe(1);
    expect(stderr).toContain("xdpwatch: error: bpftool stopped answering");
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test.skipIf(!Bun.which("tcpdump"))("malformed, truncated and non-IP frames through the veth pair: the host sees exactly what it sees without xdpwatch", async () => {
    const frames = HAND.filter(([, , outcome]) => outcome !== "blocked");
    const hex = (list: Uint8Array[]) => list.map((f) => Buffer.from(f).toString("hex"));
    // The kernel's own stack drops some of these (a cut VLAN tag) whatever XDP does: compare, don't count.
    const without = await record(lab.veth.host);
    await lab.veth.send(frames.map(([, f]) => f));
    const baseline = hex(await without.stop());
    expect(baseline.length).toBeGreaterThanOrEqual(frames.length - 2);
    const run = start(["watch", "-i", lab.veth.host, "--json"]);
    await run.attached;
    const withWatch = await record(lab.veth.host);
    await lab.veth.send(frames.map(([, f]) => f));
    expect(hex(await withWatch.stop())).toEqual(baseline);
    run.proc.kill("SIGINT");
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    const count = (o: string) => frames.filter(([, , outcome]) => outcome === o).length;
    expect(ndjson(stdout).at(-1)).toMatchObject({
      seen: frames.length, logged: count("logged"), malformed: count("malformed"), not_ip: count("not_ip"), blocked: 0, exact: true,
    });
  }, 30_000);

  test("kill -9 leaves the program attached; the next watch says what is stale; detach cleans it all", async () => {
    const run = start(["watch", "-i", lab.veth.host]);
    await run.attached;
    run.proc.kill("SIGKILL");
    await run.done;
    expect((await leftovers(lab.veth.host)).length).toBeGreaterThan(0);
    const next = await xdpwatch(["watch", "-i", lab.veth.host, "--duration", "1"]);
    expect(next.code).toBe(1);
    expect(next.stderr).toContain("with no process watching it");
    expect(next.stderr).toContain(`xdpwatch detach --iface ${lab.veth.host}`);
    expect((await xdpwatch(["detach", "-i", lab.veth.host])).code).toBe(0);
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("our program with its pins deleted is still known by its tag: status says so, watch refuses, detach removes it", async () => {
    expect((await xdpwatch(["attach", "-i", lab.veth.host])).code).toBe(0);
    await sh(["rm", "-rf", pinsOf(lab.veth.host)!.dir]);
    const row = ndjson((await xdpwatch(["status", "--json"])).stdout).find((r) => r.iface === lab.veth.host);
    expect(row).toMatchObject({ ours: true, note: "xdpwatch's program (by tag) without its pins: xdpwatch detach removes it" });
    const watch = await xdpwatch(["watch", "-i", lab.veth.host, "--duration", "1"]);
    expect(watch.code).toBe(1);
    expect(watch.stderr).toContain(`xdpwatch detach --iface ${lab.veth.host}`);
    const detach = await xdpwatch(["detach", "-i", lab.veth.host]);
    expect(detach.code).toBe(0);
    expect(await attachedIds(lab.veth.host)).toEqual([]);
  }, 30_000);

  test.each(["deleted", "moved to another namespace"])("the interface is %s while watching: clear error, pins cleaned, exit 1", async (how) => {
    const run = start(["watch", "-i", lab.veth.host, "--json"]);
    await run.attached;
    if (how === "deleted") await sh(["ip", "link", "del", lab.veth.host]);
    else await sh(["ip", "link", "set", "dev", lab.veth.host, "netns", lab.veth.ns]);
    const { code, stderr, stdout } = await run.done;
    expect(code).toBe(1);
    expect(stderr).toContain(`${lab.veth.host} was deleted or moved to another network namespace`);
    expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", stopped_by: "interface gone" });
    expect(await leftovers(lab.veth.host)).toEqual([]);
    if (how !== "deleted") expect((await lab.veth.inNs(["ip", "-j", "link", "show", "dev", lab.veth.host])).stdout).toContain(lab.veth.host);
  }, 30_000);

  test("native mode refused by the driver: the error names the mode to try", async () => {
    const r = await xdpwatch(["watch", "-i", "lo", "--mode", "native", "--duration", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("try --mode generic");
    expect(await leftovers("lo")).toEqual([]);
  }, 30_000);

  /**
   * `watch` with a PATH of its own: the real tools named in `real`, and scripts
   * (name → sh body) in place of others; its result, once nothing was left on the pair.
   */
  async function watchWithPath(real: string[], scripts: Record<string, string> = {}) {
    const bin = join(mkdtempSync(join(tmpdir(), "xw-path-")), "bin");
    try {
      mkdirSync(bin);
      for (const tool of real) symlinkSync(Bun.which(tool)!, join(bin, tool));
      for (const [tool, body] of Object.entries(scripts)) writeFileSync(join(bin, tool), `#!/bin/sh\n${body}`, { mode: 0o755 });
      const r = await xdpwatch(["watch", "-i", lab.veth.host, "--duration", "1"], { env: { PATH: bin } });
      expect(await leftovers(lab.veth.host)).toEqual([]);
      return r;
    } finally {
      rmSync(dirname(bin), { recursive: true, force: true });
    }
  }

  // Checked on PATH before anything is loaded: nothing is run for it (a script waits for every start).
  test.each([
    ["bpftool", "ip", "bpftool not found on PATH", "apt-get install bpftool"],
    ["ip", "bpftool", "ip (iproute2) not found on PATH", "apt-get install iproute2"],
  ])("missing %s names the package to install", async (_missing, present, message, fix) => {
    const r = await watchWithPath([present]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`xdpwatch: error: ${message}\nxdpwatch: hint: fix: ${fix}`);
  }, 30_000);

  test("a bpftool on PATH that does not run (a distribution's wrapper without this kernel's tools): its words and the fix, nothing left", async () => {
    const r = await watchWithPath(["ip"], { bpftool: `echo "WARNING: bpftool not found for kernel 6.18.44" >&2\nexit 2\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("xdpwatch: error: bpftool does not run: WARNING: bpftool not found for kernel 6.18.44\nxdpwatch: hint: fix: apt-get install bpftool");
  }, 30_000);

  test("an ip built without libbpf: the attach failure says so, nothing left", async () => {
    // The real ip for everything but its version line and attaching a pinned program.
    const ip = `case " $* " in\n  " -V ") echo "ip utility, iproute2-5.4.0"; exit 0 ;;\n  *" pinned "*) echo "Error: no BPF support here." >&2; exit 1 ;;\nesac\nexec ${Bun.which("ip")} "$@"\n`;
    const r = await watchWithPath(["bpftool"], { ip });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("xdpwatch: error: attaching in generic mode failed: Error: no BPF support here.");
    expect(r.stderr).toContain("xdpwatch: hint: ip utility, iproute2-5.4.0: built without libbpf, it cannot attach pinned XDP programs; fix: apt-get install iproute2");
  }, 30_000);
});

describe.skipIf(!kernelReady)("the machine is not ready", () => {
  const lab = useVeth({ leftovers: "unchecked" });

  test.skipIf(!Bun.which("setpriv"))("not root: one line saying so, nothing attached", async () => {
    const r = await sh(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", BIN, "watch", "-i", lab.veth.host]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("xdpwatch: error: missing CAP_BPF / CAP_NET_ADMIN: xdpwatch needs root to load and attach XDP programs");
    expect(await leftovers(lab.veth.host)).toEqual([]);
  });

  test.skipIf(!Bun.which("unshare"))("bpffs not mounted: mounts it and says so", async () => {
    const r = await sh(["unshare", "-m", "bash", "-c", `umount /sys/fs/bpf 2>/dev/null; ${BIN} watch -i ${lab.veth.host} --duration 0.3`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("mounted bpffs at /sys/fs/bpf (it was not mounted)");
    expect(await attachedIds(lab.veth.host)).toEqual([]);
  }, 30_000);

  test.skipIf(!Bun.which("unshare"))("bpffs not mounted and it cannot be: one line, nothing attached", async () => {
    const r = await sh(["unshare", "-m", "bash", "-c", `umount /sys/fs/bpf 2>/dev/null; mount -t tmpfs -o ro tmpfs /sys/fs && ${BIN} watch -i ${lab.veth.host} --duration 0.3`]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toMatch(/^xdpwatch: error: bpffs is not mounted at \/sys\/fs\/bpf and mounting it failed/);
    expect(await attachedIds(lab.veth.host)).toEqual([]);
  }, 30_000);

  test.skipIf(!hasClang)("the verifier rejects a modified program: its last lines are shown, nothing attached", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xw-bad-"));
    try {
      const source = await Bun.file(join(import.meta.dir, "../../bpf/xdpwatch.c")).text();
      // Drop the Ethernet bounds check the verifier insists on.
      const broken = source.replace("if (unlikely(pos > data_end))\n\t\tgoto malformed;", "");
      expect(broken).not.toBe(source);
      writeFileSync(join(dir, "xdpwatch.c"), broken);
      writeFileSync(join(dir, "xdpwatch.h"), await Bun.file(join(import.meta.dir, "../../bpf/xdpwatch.h")).text());
      const build = await xdpwatch(["build", "--source", join(dir, "xdpwatch.c"), "--out", join(dir, "bad.o")]);
      expect(build.code, build.stderr).toBe(0);
      const r = await xdpwatch(["watch", "-i", lab.veth.host, "--object", join(dir, "bad.o"), "--duration", "1"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("the kernel's verifier rejected the program");
      expect(r.stderr).toMatch(/invalid access to packet|R\d/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await leftovers(lab.veth.host)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
