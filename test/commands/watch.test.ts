import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ipv4Frame, ipv6Frame, testSources } from "../support/frames";
import { BIN, kernelReady, leftovers, ndjson, start, useVeth } from "../support/kernel";

describe.skipIf(!kernelReady)("watch on a real veth pair", () => {
  const lab = useVeth();

  test("40 frames from 40 sources: each printed once, exact summary, nothing left behind", async () => {
    const sources = testSources(40);
    const run = start(["watch", "--iface", lab.veth.host, "--json", "--count", "40"]);
    await run.attached;
    await lab.veth.send(sources.map((src, i) => ipv4Frame({ src, sport: 1000 + i })));
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(0);
    const records = ndjson(stdout);
    const packets = records.filter((r) => r.type === "packet");
    expect(packets.map((p) => p.src).sort()).toEqual([...sources].sort());
    expect(packets.every((p) => p.proto === "udp" && p.len === 42 && p.iface === lab.veth.host && p.dport === 53)).toBe(true);
    expect(packets.every((p) => typeof p.ts === "string" && !Number.isNaN(Date.parse(p.ts as string)))).toBe(true);
    const summary = records.at(-1)!;
    expect(summary).toMatchObject({ type: "summary", seen: 40, logged: 40, lost: 0, not_ip: 0, malformed: 0, printed: 40, exact: true, stopped_by: "count" });
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("IPv6 and VLAN-tagged sources, protocols and ports are decoded", async () => {
    const run = start(["watch", "-i", lab.veth.host, "--json", "-c", "3"]);
    await run.attached;
    await lab.veth.send([
      ipv6Frame({ src: "2001:db8::7", proto: "tcp", sport: 443, dport: 50000 }),
      ipv4Frame({ src: "198.18.9.9", vlans: [42] }),
      ipv4Frame({ src: "198.18.9.10", vlans: [100, 200], proto: "icmp" }),
    ]);
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    const packets = ndjson(stdout).filter((r) => r.type === "packet");
    expect(packets).toHaveLength(3);
    const bySrc = Object.fromEntries(packets.map((p) => [p.src, p]));
    expect(bySrc["2001:db8::7"]).toMatchObject({ family: 6, proto: "tcp", sport: 443, dport: 50000 });
    expect(bySrc["198.18.9.9"]).toMatchObject({ family: 4, proto: "udp", vlan: 42 });
    expect(bySrc["198.18.9.10"]).toMatchObject({ proto: "icmp", vlan: 100 });
    expect(bySrc["198.18.9.10"]!.sport).toBeUndefined();
  }, 30_000);

  test("--duration stops, detaches and accounts for frames that were not logged", async () => {
    const run = start(["watch", "-i", lab.veth.host, "--json", "--duration", "1.5"]);
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.5.5" }), new Uint8Array([0x02, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1])]);
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    const summary = ndjson(stdout).at(-1)!;
    expect(summary).toMatchObject({ type: "summary", seen: 2, logged: 1, not_ip: 1, exact: true, stopped_by: "duration" });
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("SIGINT detaches and prints the summary", async () => {
    const run = start(["watch", "-i", lab.veth.host]);
    await run.attached;
    await lab.veth.send([ipv4Frame({ src: "198.18.6.6" })]);
    await Bun.sleep(300);
    run.proc.kill("SIGINT");
    const { code, stdout, stderr } = await run.done;
    expect(code).toBe(0);
    expect(stdout).toContain("198.18.6.6");
    expect(stderr).toContain("seen 1");
    expect(await leftovers(lab.veth.host)).toEqual([]);
  }, 30_000);

  test("the binary alone, with only ip and bpftool on PATH (no node, clang or node_modules), runs doctor and status and watches the same way", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xdpwatch-alone-"));
    const bin = join(dir, "bin");
    try {
      copyFileSync(BIN, join(dir, "xdpwatch"));
      mkdirSync(bin);
      for (const tool of ["ip", "bpftool"]) symlinkSync(Bun.which(tool)!, join(bin, tool));
      const alone = { bin: join(dir, "xdpwatch"), cwd: dir, env: { PATH: bin, HOME: dir } };
      const doctor = await start(["doctor", "--iface", lab.veth.host], alone).done;
      expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
      expect(doctor.stdout).toMatch(/! clang +not found: only `xdpwatch build` needs it/);
      const status = await start(["status", "--json"], alone).done;
      expect(status.code).toBe(0);
      const run = start(["watch", "--iface", lab.veth.host, "--json", "--count", "5"], alone);
      await run.attached;
      const sources = testSources(5, 20);
      await lab.veth.send(sources.map((src) => ipv4Frame({ src })));
      const { code, stdout, stderr } = await run.done;
      expect(code, stderr).toBe(0);
      expect(ndjson(stdout).filter((r) => r.type === "packet").map((p) => p.src).sort()).toEqual(sources.sort());
      expect(await leftovers(lab.veth.host)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("--stats reports the program's measured ns/packet and puts the sysctl back", async () => {
    const sysctl = "/proc/sys/kernel/bpf_stats_enabled";
    const before = (await Bun.file(sysctl).text()).trim();
    const run = start(["watch", "-i", lab.veth.host, "--json", "--count", "50", "--stats"]);
    await run.attached;
    expect((await Bun.file(sysctl).text()).trim()).toBe("1");
    await lab.veth.send(testSources(50, 60).map((src) => ipv4Frame({ src })));
    const { code, stdout } = await run.done;
    expect(code).toBe(0);
    const summary = ndjson(stdout).at(-1)!;
    expect(summary.run_cnt).toBe(summary.seen);
    expect(summary.ns_per_packet as number).toBeGreaterThan(0);
    expect((await Bun.file(sysctl).text()).trim()).toBe(before);
  }, 30_000);
});
