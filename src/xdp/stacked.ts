/**
 * Stacked devices: the kernel allows no XDP change on a device while a device
 * directly above it (a bridge over its port, a macvlan or VLAN over its
 * parent) has a program. Starting below such a device is refused, naming it;
 * stopping below one lifts its program for the moment of the change and puts
 * the same program back, in its mode. Lifts and releases in one namespace
 * take turns (a lock file), so two runs stopping at once never find each
 * other's programs lifted.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { XwError } from "../errors";
import { log } from "../log";
import * as bpftool from "../tools/bpftool";
import * as ip from "../tools/ip";
import { sysfsIsOurs, upperDevicesInSysfs } from "./iface";
import { isAlive, RUN_DIR } from "./owner";
import { PIN_ROOT, removeIfEmpty } from "./pins";

export function describeProg(p: ip.AttachedProgram): string {
  return `id ${p.id}${p.name ? `, name ${p.name}` : ""}${p.tag ? `, tag ${p.tag}` : ""}, ${p.mode} mode`;
}

/** The devices directly above: from sysfs when it shows this namespace, else from netlink. */
async function upperDevices(iface: string): Promise<string[]> {
  return sysfsIsOurs() ? upperDevicesInSysfs(iface) : ip.upperDevices(iface);
}

/** Refuses to start below a device that has a program, before trying, naming it. */
export async function refuseBelowProgram(iface: string): Promise<void> {
  for (const upper of await upperDevices(iface)) {
    const link = await ip.showLink(upper).catch(() => undefined);
    if (link && link.xdp.length > 0)
      throw new XwError(`${upper}, the device above ${iface}, has an XDP program (${link.xdp.map(describeProg).join("; ")}): the kernel allows none below it`, {
        hint: `watch ${upper} instead, or stop what holds ${upper} first (xdpwatch status says who)`,
      });
  }
}

const LOCK_WAIT_MS = 15_000;

/** Runs `fn` holding this namespace's lock on stacked-device changes. */
export async function withStackLock<T>(netns: string, fn: () => Promise<T>): Promise<T> {
  const dir = join(RUN_DIR, netns);
  const file = join(dir, "stacked.lock");
  mkdirSync(dir, { recursive: true });
  const deadline = performance.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(file, "utf8").trim());
      if (!isAlive(holder)) rmSync(file, { force: true });
      else if (performance.now() > deadline) throw new XwError(`xdpwatch pid ${holder} has held ${file} for ${LOCK_WAIT_MS / 1000} s`);
      else await Bun.sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
    removeIfEmpty(dir);
    removeIfEmpty(RUN_DIR);
  }
}

/**
 * Makes `change` on `iface` while any device above it has a program: each is
 * pinned (under PIN_ROOT/<netns>/lifted, apart from any run's pins), lifted,
 * and put back afterwards. What cannot be put back stays pinned, and this
 * throws with the command that puts it back.
 */
export async function belowUpper(iface: string, netns: string, change: () => Promise<void>): Promise<void> {
  const lifted: { link: ip.Link; prog: ip.AttachedProgram; mode: ip.XdpMode; pin: string }[] = [];
  for (const upper of await upperDevices(iface)) {
    const link = await ip.showLink(upper).catch(() => undefined);
    for (const prog of link?.xdp ?? [])
      if (ip.isXdpMode(prog.mode)) lifted.push({ link: link!, prog, mode: prog.mode, pin: join(PIN_ROOT, netns, "lifted", `${link!.ifindex}_${prog.mode}`) });
  }
  if (lifted.length === 0) return change();
  log.warn(`${lifted.map((l) => l.link.ifname).join(", ")} above ${iface} has an XDP program, and the kernel allows no change below it: lifting it for a moment`);
  mkdirSync(join(PIN_ROOT, netns, "lifted"), { recursive: true });
  for (const l of lifted) {
    await bpftool.pinProgram(l.prog.id, l.pin);
    await ip.detachXdp(l.link.ifname, l.mode);
  }
  const failed: string[] = [];
  try {
    await change();
  } finally {
    for (const l of lifted) {
      try {
        await ip.attachXdp(l.link.ifname, l.mode, l.pin);
        rmSync(l.pin, { force: true });
        log.info(`put back ${l.link.ifname}'s XDP program (${describeProg(l.prog)})`);
      } catch (err) {
        failed.push(`${l.link.ifname}'s program (id ${l.prog.id}: ${(err as Error).message}); put it back with \`ip link set dev ${l.link.ifname} ${l.mode === "native" ? "xdpdrv" : "xdpgeneric"} pinned ${l.pin}\``);
      }
    }
    try {
      rmSync(join(PIN_ROOT, netns, "lifted"), { recursive: false });
    } catch {
      // a pin left for the user to put back
    }
  }
  if (failed.length > 0) throw new XwError(`could not put back ${failed.join("; ")}`);
}
