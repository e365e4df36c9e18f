/**
 * The reader's helper processes as people meet them: a pipe into `head`, a
 * signal to the whole process group, kill -9.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ipv4Frame } from "../support/frames";
import { BIN, kernelReady, ndjson, useVeth } from "../support/kernel";

/** Live children of `pid` by command name. */
function children(pid: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) found.push({ pid: Number(p), comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const alive = (pid: number) => {
  try {
    // A zombie still has a /proc entry: only a running process counts.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = performance.now() + ms; performance.now() < end; await Bun.sleep(20)) if (cond()) return true;
  return cond();
}

describe.skipIf(!kernelReady)("the reader's processes", () => {
  describe("stopped cleanly", () => {
    const lab = useVeth();

    test("`watch | head -1`, then nothing more matches: the closed pipe ends the run without another record", async () => {
      const src = "198.18.5.5";
      const sh = Bun.spawn(["sh", "-c", `'${BIN}' watch -i ${lab.veth.host} --json --src ${src}/32 | head -1`], { stdout: "pipe", stderr: "pipe" });
      let said = "";
      const stderr = (async () => {
        for await (const chunk of sh.stderr) said += new TextDecoder().decode(chunk);
      })();
      try {
        expect(await waitUntil(() => said.includes("watching"), 20_000)).toBe(true);
        await lab.veth.send([ipv4Frame({ src })]);
        const ended = await Promise.race([sh.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
        expect(ended, said).toBe(true);
        await stderr;
        expect(JSON.parse(await new Response(sh.stdout).text())).toMatchObject({ type: "packet", src });
        expect(said).toMatch(/seen 1 · logged 1 · lost 0/);
      } finally {
        sh.kill("SIGKILL");
      }
    }, 30_000);

    test("SIGINT to the whole process group (a terminal's Ctrl-C): bpftool keeps answering, the run ends with its summary", async () => {
      // A group of its own, as a shell's foreground job has.
      const proc = Bun.spawn([BIN, "watch", "-i", lab.veth.host, "--json"], { stdout: "pipe", stderr: "pipe", detached: true });
      let said = "";
      const stderr = (async () => {
        for await (const chunk of proc.stderr) said += new TextDecoder().decode(chunk);
      })();
      try {
        expect(await waitUntil(() => said.includes("watching"), 20_000)).toBe(true);
        await lab.veth.send([ipv4Frame({ src: "198.18.5.6" })]);
        await Bun.sleep(300);
        process.kill(-proc.pid, "SIGINT");
        const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
        await stderr;
        expect(code, said).toBe(0);
        expect(ndjson(stdout).at(-1)).toMatchObject({ type: "summary", seen: 1, logged: 1, exact: true, stopped_by: "signal" });
      } finally {
        proc.kill("SIGKILL");
      }
    }, 30_000);
  });

  describe("killed", () => {
    // kill -9 leaves the program attached by design (detach cleans it up): checked after that.
    const lab = useVeth({ leftovers: "after detach" });

    test("kill -9 of watch leaves no bpftool (nor pipe watcher) behind", async () => {
      // stdout a real pipe (a FIFO), as in a shell pipeline: the pipe watcher runs too.
      const dir = mkdtempSync(join(tmpdir(), "xw-fifo-"));
      const fifo = join(dir, "out");
      expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
      const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writeEnd = openSync(fifo, "w");
      const proc = Bun.spawn([BIN, "watch", "-i", lab.veth.host, "--json"], { stdout: writeEnd, stderr: "pipe" });
      closeSync(writeEnd);
      let said = "";
      const stderr = (async () => {
        for await (const chunk of proc.stderr) said += new TextDecoder().decode(chunk);
      })();
      try {
        expect(await waitUntil(() => said.includes("watching"), 20_000)).toBe(true);
        const helpers = children(proc.pid).filter((c) => c.comm === "bpftool" || c.comm === "tail");
        expect(helpers.map((c) => c.comm).sort()).toEqual(["bpftool", "tail"]);
        proc.kill("SIGKILL");
        await proc.exited;
        await stderr;
        expect(await waitUntil(() => helpers.every((h) => !alive(h.pid)), 3000)).toBe(true);
      } finally {
        proc.kill("SIGKILL");
        closeSync(readEnd);
        rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);
  });
});
