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
 * The name an ifindex has now in this namespace, from sysfs (cheap enough for
 * every poll); undefined when no interface has it any more.
 */
export function nameOfIfindex(ifindex: number): string | undefined {
  let names: string[];
  try {
    names = readdirSync("/sys/class/net");
  } catch {
    return undefined;
  }
  return names.find((name) => readIfindex(name) === ifindex);
}

export function readIfindex(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The devices directly above and below an interface (bridge and port, macvlan or VLAN and parent). */
export function stackedDevices(name: string): { upper: string[]; lower: string[] } {
  const upper: string[] = [];
  const lower: string[] = [];
  try {
    for (const entry of readdirSync(`/sys/class/net/${name}`)) {
      if (entry.startsWith("upper_")) upper.push(entry.slice("upper_".length));
      else if (entry.startsWith("lower_")) lower.push(entry.slice("lower_".length));
    }
  } catch {
    // gone: nothing stacked
  }
  return { upper, lower };
}

/** An interface of this namespace by name, from sysfs; undefined when there is none. */
export function refOf(name: string): IfaceRef | undefined {
  const ifindex = readIfindex(name);
  return ifindex === undefined ? undefined : { netns: currentNetns(), ifindex, name };
}
