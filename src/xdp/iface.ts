/**
 * Which interface a run holds, as the kernel knows it: a network namespace and
 * an ifindex. The name is only what the user typed; it can change under a run
 * (container runtimes rename interfaces) and the same name exists in every
 * namespace (a container's eth0), so nothing is keyed by the name alone.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface IfaceRef {
  /** The network namespace's inode number, as /proc/self/ns/net shows it. */
  netns: string;
  ifindex: number;
  /** The name at the time of the last look. */
  name: string;
}

/** This process's network namespace ("4026531840"). */
export function currentNetns(): string {
  const link = readlinkSync("/proc/self/ns/net"); // "net:[4026531840]"
  return /\[(\d+)\]/.exec(link)?.[1] ?? link;
}

/**
 * An interface name as a bpffs file name and a bpftool batch word: bpffs refuses
 * '.', batch takes '#' as a comment and splits on quotes and backslashes. Every
 * byte outside [A-Za-z0-9_-] becomes %HH, so the encoding is reversible.
 */
export function encodeName(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function decodeName(encoded: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(encoded.slice(i + 1, i + 3))) {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(encoded.charCodeAt(i));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The key of an interface in this namespace, for file and pin names: "<ifindex>_<encoded name>". */
export function ifaceKey(ref: IfaceRef): string {
  return `${ref.ifindex}_${encodeName(ref.name)}`;
}

/** Reads a key back; undefined for anything else found in our directories. */
export function parseIfaceKey(key: string, netns: string): IfaceRef | undefined {
  const m = /^(\d+)_(.+)$/.exec(key);
  return m ? { netns, ifindex: Number(m[1]), name: decodeName(m[2]!) } : undefined;
}

/**
 * The interface names of this process's network namespace. /proc/self/net
 * follows the namespace; /sys/class/net shows the namespace of whoever
 * mounted /sys, which `nsenter --net` does not change.
 */
export function namesInNetns(): Set<string> {
  try {
    const text = readFileSync("/proc/self/net/dev", "utf8");
    return new Set(text.split("\n").slice(2).flatMap((line) => {
      const name = line.slice(0, line.indexOf(":")).trim();
      return name ? [name] : [];
    }));
  } catch {
    return new Set();
  }
}

/** Whether /sys/class/net shows this namespace's interfaces (it does not after `nsenter --net`). */
export function sysfsIsOurs(): boolean {
  try {
    const sys = readdirSync("/sys/class/net");
    const ours = namesInNetns();
    return sys.length === ours.size && sys.every((n) => ours.has(n));
  } catch {
    return false;
  }
}

export function readIfindex(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The devices directly above an interface (its bridge, VLANs and macvlans on it), from sysfs. */
export function upperDevicesInSysfs(name: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${name}`).filter((e) => e.startsWith("upper_")).map((e) => e.slice("upper_".length));
  } catch {
    return []; // gone: nothing stacked
  }
}

/** An interface of this namespace by name, from sysfs; undefined when there is none. */
export function refOf(name: string): IfaceRef | undefined {
  const ifindex = readIfindex(name);
  return ifindex === undefined ? undefined : { netns: currentNetns(), ifindex, name };
}
