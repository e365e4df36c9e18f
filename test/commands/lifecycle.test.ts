import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ipv4Frame } from "../support/frames";
import { kernelReady, leftovers, ndjson, pinsOf, start, xdpwatch, useVeth } from "../support/kernel";

describe.skipIf(!kernelReady)("attach, status, detach", () => {
  const lab = useVeth({ leftovers: "unchecked" });

  test("attach leaves the program and pins; status lists it as ours; detach removes everything, twice", async () => {
    const attach = await xdpwatch(["attach", "--iface", lab.veth.host, "--mode", "generic", "--json"]);
    expect(attach.code, attach.stderr).toBe(0);
    expect(ndjson(attach.stdout)[0]).toMatchObject({ type: "attached", iface: lab.veth.host, mode: "generic" });
    expect(existsSync(pinsOf(lab.veth.host)?.stats ?? "none")).toBe(true);

    const status = await xdpwatch(["status", "--json"]);
    expect(status.code).toBe(0);
    const row = ndjson(status.stdout).find((r) => r.iface === lab.veth.host);
    expect(row).toMatchObject({ type: "status", ours: true, name: "xdpwatch", mode: "generic" });

    const detach = await xdpwatch(["detach", "--iface", lab.veth.host]);
    expect(detach.code, detach.stderr).toBe(0);
    expect(await leftovers(lab.veth.host)).toEqual([]);
    const again = await xdpwatch(["detach", "--iface", lab.veth.host]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("nothing of xdpwatch's");
    expect(ndjson((await xdpwatch(["status", "--json"])).stdout).some((r) => r.iface === lab.veth.host)).toBe(false);
  }, 30_000);

  test("watch refuses an interface where `attach` left the program, and says how to clean it", async () => {
    expect((await xdpwatch(["attach", "-i", lab.veth.host])).code).toBe(0);
    const watch = await xdpwatch(["watch", "-i", lab.veth.host, "--duration", "1"]);
    expect(watch.code).toBe(1);
    expect(watch.stderr).toContain(`xdpwatch detach --iface ${lab.veth.host}`);
  }, 30_000);

  test.skipIf(!Bun.which("clang"))("build compiles the embedded source; watch --object loads the result", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xw-build-"));
    try {
      const out = join(dir, "custom.o");
      const build = await xdpwatch(["build", "--out", out]);
      expect(build.code, build.stderr).toBe(0);
      expect(existsSync(out)).toBe(true);
      const run = start(["watch", "-i", lab.veth.host, "--json", "-c", "1", "--object", out]);
      await run.attached;
      await lab.veth.send([ipv4Frame({ src: "198.18.7.7" })]);
      const { code, stdout } = await run.done;
      expect(code).toBe(0);
      expect(ndjson(stdout)[0]).toMatchObject({ src: "198.18.7.7" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.skipIf(!kernelReady)("bad input: one line on stderr, non-zero exit, nothing attached", () => {
  test.each([
    [["watch"], 2, /--iface is required/],
    [["watch", "-i", "xwt-none0"], 1, /no interface named "xwt-none0"/],
    [["watch", "-i", "abcdefghijklmnopq"], 2, /longer than 15 bytes/],
    [["watch", "-i", "eth0; reboot"], 2, /not a valid interface name/],
    [["watch", "-i", "lo", "--count", "0"], 2, /--count must be a whole number/],
    [["watch", "-i", "lo", "--count", "-5"], 2, /--count must be a whole number/],
    [["watch", "-i", "lo", "--duration", "abc"], 2, /--duration must be a number/],
    [["watch", "-i", "lo", "--mode", "turbo"], 2, /--mode must be/],
    [["watch", "-i", "lo", "--frobnicate"], 2, /unknown option --frobnicate/],
    [["frobnicate"], 2, /unknown command "frobnicate"/],
    [["detach"], 2, /--iface is required/],
  ])("%p exits %p", async (args, code, message) => {
    const r = await xdpwatch(args);
    expect(r.code).toBe(code);
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toMatch(message);
    expect(lines[0]).toStartWith("xdpwatch: error: ");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await leftovers("lo")).toEqual([]);
  });
});
