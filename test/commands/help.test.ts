import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { subCommands } from "../../src/commands";
import { isTerminal } from "../../src/output/terminal";
import { kernelReady, sh, xdpwatch } from "../support/kernel";

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe.skipIf(!kernelReady)("--help", () => {
  test.each(Object.keys(subCommands))("%s --help: usage and an example, no colour in a pipe", async (name) => {
    const r = await xdpwatch([name, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`USAGE xdpwatch ${name}`);
    expect(r.stdout).toMatch(/\nEXAMPLES\n\n {2}\$ .+/);
    expect(r.stdout).not.toContain("\x1b[");
  });

  test("the root lists every command with the description its module gives", async () => {
    const r = await xdpwatch(["--help"]);
    expect(r.code).toBe(0);
    // Rendered at build time: a description changed in a command must show here after the build.
    for (const [name, load] of Object.entries(subCommands)) {
      const meta = (await load()).meta as { description: string };
      expect(r.stdout).toMatch(new RegExp(`\\n\\s+${name}\\s+${escape(meta.description)}`));
    }
  });

  test.each(Object.keys(subCommands))("help %s, and --help before the command, print what the command's --help prints", async (name) => {
    const expected = await xdpwatch([name, "--help"]);
    for (const args of [["help", name], ["--help", name]]) {
      const r = await xdpwatch(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(expected.stdout);
    }
  });

  test("help alone is the root's --help, and says so in the command list", async () => {
    const [help, root] = await Promise.all([xdpwatch(["help"]), xdpwatch(["--help"])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(root.stdout);
    expect(help.stdout).toMatch(/\n\s+help\s+Show the usage/);
  });

  test.each([
    [["help", "nosuch"], /^xdpwatch: error: unknown command "nosuch"\nxdpwatch: hint: /],
    [["help", "watch", "top"], /^xdpwatch: error: unexpected argument "top"\n/],
    [["nosuch"], /^xdpwatch: error: unknown command "nosuch"\n/],
    [["--nosuch"], /^xdpwatch: error: unknown option --nosuch\n/],
  ])("%p: one error line and a hint, exit 2", async (args, message) => {
    const r = await xdpwatch(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(2);
  });

  test("no arguments: the usage, exit 2", async () => {
    const r = await xdpwatch([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("USAGE xdpwatch");
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

describe("isTerminal, without node:tty", () => {
  test("/dev/null and a file are not terminals", async () => {
    const dir = mkdtempSync(join(tmpdir(), "xw-tty-"));
    const devNull = openSync("/dev/null", "w");
    const file = openSync(join(dir, "probe"), "w");
    try {
      expect(await isTerminal(devNull)).toBe(false);
      expect(await isTerminal(file)).toBe(false);
    } finally {
      closeSync(devNull);
      closeSync(file);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(!Bun.which("script"))("a pseudo-terminal is one, a pipe is not: as test -t (isatty) says", async () => {
    const probe = `${process.execPath} -e 'console.log(String(await (await import("${import.meta.dir}/../../src/output/terminal")).isTerminal(1)))'`;
    const inPty = await sh(["script", "-qec", `${probe}; test -t 1 && echo tty`, "/dev/null"]);
    expect(inPty.stdout.replace(/\r/g, "").trim().split("\n")).toEqual(["true", "tty"]);
    const inPipe = await sh(["sh", "-c", `${probe}; test -t 1 || echo pipe`]);
    expect(inPipe.stdout.trim().split("\n")).toEqual(["false", "pipe"]);
  });
});
