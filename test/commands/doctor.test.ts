import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelCheck } from "../../src/system/checks";
import { kernelReady, ndjson, xdpwatch } from "../support/kernel";

test.each([
  ["6.18.44-fc-v657", true],
  ["5.10.0-28-amd64", true],
  ["5.2.0", true],
  ["4.18.0-553.el8_10.x86_64", false],
  ["4.9.0", false],
  ["3.10.0-1160.el7.x86_64", false],
])("kernel %s supported: %p", (release, ok) => {
  expect(kernelCheck(release).ok).toBe(ok);
});

describe.skipIf(!kernelReady)("doctor on this machine", () => {
  test("every required check passes here", async () => {
    const r = await xdpwatch(["doctor", "--json", "--iface", "lo"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const records = ndjson(r.stdout);
    const checks = records.filter((c) => c.type === "check");
    expect(checks.map((c) => c.name)).toEqual(["kernel", "privileges", "bpffs", "ip", "bpftool", "bpf jit", "clang", "tcpdump", "interface lo"]);
    expect(checks.filter((c) => c.required && !c.ok)).toEqual([]);
    expect(records.at(-1)).toEqual({ type: "doctor", ok: true, failed: [] });
  });

  test("without bpftool on PATH it fails and gives the package to install, on both families", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xw-doctor-"));
    try {
      mkdirSync(join(dir, "bin"));
      symlinkSync(Bun.which("ip")!, join(dir, "bin", "ip"));
      const r = await xdpwatch(["doctor"], { env: { PATH: join(dir, "bin") } });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/✗ bpftool +bpftool not found on PATH\n +fix: apt-get install bpftool \(Debian\/Ubuntu\) · dnf install bpftool \(RHEL\/Fedora\)/);
      expect(r.stdout).toMatch(/✓ ip /);
      expect(r.stderr).toContain("xdpwatch: error: 1 required check failed: bpftool");
      const watch = await xdpwatch(["watch", "-i", "lo"], { env: { PATH: join(dir, "bin") } });
      expect(watch.code).toBe(1);
      expect(watch.stderr).toContain("xdpwatch: error: bpftool not found on PATH\nxdpwatch: hint: fix: apt-get install bpftool");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
