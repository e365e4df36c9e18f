/**
 * Who holds an interface: one owner file per interface under
 * /run/xdpwatch/<netns>/<ifindex>_<name>.json, created exclusively, so that
 * of two runs racing for one interface exactly one wins. It also tells status
 * whether a program was left on purpose (`attach`) or by a run that was killed.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { XwError } from "../errors";
import { ifaceKey, type IfaceRef } from "./iface";
import { removeIfEmpty } from "./pins";

export const RUN_DIR = "/run/xdpwatch";

export type OwnerCommand = "watch" | "top" | "attach";

export interface OwnerRecord {
  pid: number;
  command: OwnerCommand;
  /** RFC 3339 UTC. */
  started: string;
  /** What the program was configured with, as the start-up line said it. */
  filters?: string;
  /** The program's id once loaded: how it is known when its pins are gone (a tcpdump expression changes its tag). */
  progId?: number;
}

export interface Owner extends OwnerRecord {
  file: string;
  /** The process still runs (for `attach`, whose process is gone by design: false). */
  alive: boolean;
}

/** The process runs: it exists and is not a zombie (a killed run whose parent has not reaped it yet). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function ownerPath(ref: IfaceRef): string {
  return join(RUN_DIR, ref.netns, `${ifaceKey(ref)}.json`);
}

function readRecord(file: string): Owner | undefined {
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as OwnerRecord;
    if (!Number.isInteger(r.pid)) return undefined;
    return { ...r, file, alive: r.command !== "attach" && isAlive(r.pid) };
  } catch {
    return undefined;
  }
}

/** The owner file of an interface, found by ifindex (the name in it may be an old one). */
export function readOwner(ref: Pick<IfaceRef, "netns" | "ifindex">): Owner | undefined {
  const dir = join(RUN_DIR, ref.netns);
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return undefined;
  }
  const file = files.find((f) => f.startsWith(`${ref.ifindex}_`) && f.endsWith(".json"));
  return file ? readRecord(join(dir, file)) : undefined;
}

/**
 * Takes the interface for this process, or says who has it. A file left by a
 * process that is gone (or by `attach`, whose program the caller has found
 * gone) is replaced, once; a live run's is not.
 */
export function claimOwner(ref: IfaceRef, command: OwnerCommand, filters?: string): Owner {
  mkdirSync(join(RUN_DIR, ref.netns), { recursive: true });
  const record: OwnerRecord = { pid: process.pid, command, started: new Date().toISOString(), ...(filters && { filters }) };
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = readOwner(ref);
    if (existing?.alive)
      throw new XwError(`${ref.name} is already watched by xdpwatch (pid ${existing.pid})`, { hint: "one xdpwatch per interface" });
    if (existing) rmSync(existing.file, { force: true });
    const file = ownerPath(ref);
    try {
      writeFileSync(file, `${JSON.stringify(record)}\n`, { flag: "wx" });
      return { ...record, file, alive: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  throw new XwError(`${ref.name} is being claimed by another xdpwatch right now`);
}

/** Writes the loaded program's id into the owner file. */
export function recordProgram(owner: Owner, progId: number): void {
  owner.progId = progId;
  const { file: _file, alive: _alive, ...record } = owner;
  writeFileSync(owner.file, `${JSON.stringify(record)}\n`);
}

/** Gives the interface up: only this process's own file, or any with `force` (detach). */
export function releaseOwner(owner: Pick<Owner, "file" | "pid">, force = false): void {
  const now = readRecord(owner.file);
  if (force || now?.pid === owner.pid) rmSync(owner.file, { force: true });
  removeIfEmpty(join(owner.file, ".."));
  removeIfEmpty(RUN_DIR);
}
