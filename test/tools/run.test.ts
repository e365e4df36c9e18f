import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/tools/run";

const dir = mkdtempSync(join(tmpdir(), "xw-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tool that counts its runs in a file and sends itself `signal` on the runs listed. */
function tool(name: string, signal: string, killedOnRuns: number[]): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `#!/bin/sh\nn=$(($(cat "$0.runs" 2>/dev/null || echo 0) + 1))\necho $n > "$0.runs"\ncase " ${killedOnRuns.join(" ")} " in *" $n "*) kill -${signal} $$;; esac\necho "run $n"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}
const runs = (path: string) => Number(readFileSync(`${path}.runs`, "utf8"));

describe("run: a tool caught by a signal meant for our process group", () => {
  test("killed by SIGTERM as it started (between fork and setsid), it is run again once", async () => {
    const path = tool("term-once", "TERM", [1]);
    expect((await run([path])).stdout).toBe("run 2\n");
    expect(runs(path)).toBe(2);
  });

  test("killed again, it fails, naming the tool", async () => {
    const path = tool("term-twice", "TERM", [1, 2]);
    await expect(run([path])).rejects.toThrow(/term-twice.* failed/);
    expect(runs(path)).toBe(2);
  });

  test("other signals are not retried", async () => {
    const path = tool("segv", "SEGV", [1]);
    await expect(run([path])).rejects.toThrow(/failed/);
    expect(runs(path)).toBe(1);
  });
});
