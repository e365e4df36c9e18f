import { expect, test } from "bun:test";
import { effectiveCaps, hasXdpPrivileges } from "../../src/xdp/privileges";

test.each([
  ["root's full set", "CapEff:\t000001ffffffffff\n", true],
  ["all but CAP_SYS_RESOURCE (this VM)", "CapEff:\t000001fffeffffff\n", true],
  ["CAP_BPF + CAP_NET_ADMIN only", `CapEff:\t${((1n << 39n) | (1n << 12n)).toString(16).padStart(16, "0")}\n`, true],
  ["CAP_SYS_ADMIN + CAP_NET_ADMIN (kernels before CAP_BPF)", `CapEff:\t${((1n << 21n) | (1n << 12n)).toString(16).padStart(16, "0")}\n`, true],
  ["CAP_BPF without CAP_NET_ADMIN", `CapEff:\t${(1n << 39n).toString(16).padStart(16, "0")}\n`, false],
  ["an ordinary user", "CapEff:\t0000000000000000\n", false],
  ["no CapEff line", "Name:\tx\n", false],
])("%s", (_name, status, ok) => {
  expect(hasXdpPrivileges(effectiveCaps(status))).toBe(ok);
});
