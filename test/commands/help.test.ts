import { describe, expect, test } from "bun:test";
import { subCommands } from "../../src/commands";
import { kernelReady, xdpwatch } from "../support/kernel";

describe.skipIf(!kernelReady)("--help", () => {
  test.each(Object.keys(subCommands))("%s --help: usage and an example, no colour in a pipe", async (name) => {
    const r = await xdpwatch([name, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`USAGE xdpwatch ${name}`);
    expect(r.stdout).toMatch(/\nEXAMPLES\n\n {2}\$ .+/);
    expect(r.stdout).not.toContain("\x1b[");
  });

  test("the root lists every command", async () => {
    const r = await xdpwatch(["--help"]);
    expect(r.code).toBe(0);
    for (const name of Object.keys(subCommands)) expect(r.stdout).toContain(name);
  });

  test("--version names the program's tag", async () => {
    const r = await xdpwatch(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^xdpwatch \d+\.\d+\.\d+\nprogram xdpwatch tag [0-9a-f]{16} \(kernels before 6\.18: [0-9a-f]{16}\)\n$/);
  });

  test("NO_COLOR: doctor prints no escape codes", async () => {
    const r = await xdpwatch(["doctor"], { env: { ...process.env, NO_COLOR: "1" } as Record<string, string> });
    expect(r.stdout + r.stderr).not.toContain("\x1b[");
  });
});
