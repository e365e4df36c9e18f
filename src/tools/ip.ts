/** The one place that runs iproute2's `ip`. */
import { XwError } from "../errors";
import { jsonReader } from "./json";
import { installFix, run } from "./run";

export type XdpMode = "native" | "generic";

/** IFLA_XDP_ATTACHED values as `ip -j` prints them. */
const ATTACHED_MODES: Record<number, string> = { 1: "native", 2: "generic", 3: "offload", 4: "multi" };
const IP_MODE_KEYWORD: Record<XdpMode, string> = { native: "xdpdrv", generic: "xdpgeneric" };

export interface AttachedProgram {
  id: number;
  name: string;
  tag: string;
  mode: string;
}

export interface Link {
  ifindex: number;
  ifname: string;
  operstate?: string;
  /** Programs attached at the XDP hook (more than one only in "multi" mode). */
  xdp: AttachedProgram[];
  /** The kind of a virtual device (veth, bridge, vlan, …), when `ip -d` was asked. */
  kind?: string;
  /** "ether" for Ethernet framing; "none" for tun, wireguard and other devices without link headers. */
  linkType?: string;
}

/** `ip -j link show` (with -d, the kinds too): the links, each with the programs at its XDP hook. */
export function parseLinks(stdout: string): Link[] {
  const r = jsonReader("ip -j link");
  return r.objects(r.parse(stdout), "the answer").map((raw, i) => {
    const xdp = r.optionalObject(raw.xdp, `link ${i} xdp`);
    const attached = xdp?.attached !== undefined ? r.objects(xdp.attached, `link ${i} xdp.attached`) : xdp?.prog !== undefined ? [{ mode: xdp.mode, prog: xdp.prog }] : [];
    return {
      ifindex: r.number(raw.ifindex, `link ${i} ifindex`),
      ifname: r.string(raw.ifname, `link ${i} ifname`),
      operstate: r.optionalString(raw.operstate, `link ${i} operstate`),
      xdp: attached.map((a, j): AttachedProgram => {
        const at = `link ${i} program ${j}`;
        const prog = r.object(a.prog, `${at} prog`);
        const mode = r.number(a.mode, `${at} mode`);
        const [name, tag] = [r.optionalString(prog.name, `${at} name`), r.optionalString(prog.tag, `${at} tag`)];
        return { id: r.number(prog.id, `${at} id`), name: name ?? "", tag: tag ?? "", mode: ATTACHED_MODES[mode] ?? String(mode) };
      }),
      kind: r.optionalString(r.optionalObject(raw.linkinfo, `link ${i} linkinfo`)?.info_kind, `link ${i} linkinfo.info_kind`),
      linkType: r.optionalString(raw.link_type, `link ${i} link_type`),
    };
  });
}

/** Undefined when the interface does not exist (in this network namespace). With details: its kind too. */
export async function showLink(iface: string): Promise<Link | undefined> {
  const res = await run(["ip", "-j", "-d", "link", "show", "dev", iface], { allowFailure: true });
  if (res.exitCode !== 0) {
    if (/does not exist|Cannot find device/.test(res.stderr)) return undefined;
    throw new XwError(`ip link show ${iface} failed: ${res.stderr.trim()}`);
  }
  return parseLinks(res.stdout)[0];
}

export async function listLinks(): Promise<Link[]> {
  return parseLinks((await run(["ip", "-j", "link", "show"])).stdout);
}

/** Attaches a pinned program; ip refuses if any XDP program is already there, unless `replace`. */
export async function attachXdp(iface: string, mode: XdpMode, pinnedProg: string, opts: { replace?: boolean } = {}): Promise<void> {
  const force = opts.replace ? ["-force"] : [];
  const res = await run(["ip", ...force, "link", "set", "dev", iface, IP_MODE_KEYWORD[mode], "pinned", pinnedProg], {
    allowFailure: true,
  });
  if (res.exitCode !== 0) throw new AttachError(mode, res.stderr.trim() || res.stdout.trim());
}

/** Detaching must name the mode that was attached: a plain `off` in the wrong mode can leave it. */
export async function detachXdp(iface: string, mode: XdpMode): Promise<void> {
  await run(["ip", "link", "set", "dev", iface, IP_MODE_KEYWORD[mode], "off"]);
}

export class AttachError extends XwError {
  readonly mode: XdpMode;
  readonly detail: string;
  constructor(mode: XdpMode, detail: string) {
    super(`attaching in ${mode} mode failed: ${detail.split("\n").filter(Boolean).slice(-1)[0] ?? "no reason given"}`);
    this.mode = mode;
    this.detail = detail;
  }
}

/** ip's version line, and whether it was built with libbpf, which attaching pinned XDP programs needs. */
export async function version(): Promise<{ text: string; libbpf: boolean }> {
  const v = await run(["ip", "-V"], { allowFailure: true });
  const text = (v.stdout + v.stderr).trim();
  return { text, libbpf: /libbpf/.test(text) };
}

/** What to install when ip lacks libbpf. */
export const LIBBPF_FIX = `${installFix("ip")}, a build with libbpf (iproute2 5.10 or later from your distribution)`;

export function isXdpMode(mode: string): mode is XdpMode {
  return mode === "native" || mode === "generic";
}

/** The addresses assigned to an interface (IPv4 and IPv6, as ip prints them). */
export async function addresses(iface: string): Promise<string[]> {
  const res = await run(["ip", "-j", "addr", "show", "dev", iface], { allowFailure: true });
  if (res.exitCode !== 0) return [];
  const r = jsonReader("ip -j addr");
  return r.objects(r.parse(res.stdout), "the answer").flatMap((link, i) =>
    link.addr_info === undefined ? [] : r.objects(link.addr_info, `link ${i} addr_info`).flatMap((a, j) => r.optionalString(a.local, `link ${i} address ${j}`) ?? []),
  );
}

/** Kinds whose device sits on top of its `link` (the kernel's upper/lower adjacency); a veth's `link` is its peer. */
const STACKED_KINDS = new Set(["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"]);

/** The devices directly above an interface (its bridge or bond, VLANs and macvlans on it), from netlink. */
export async function upperDevices(iface: string): Promise<string[]> {
  const r = jsonReader("ip -j -d link");
  const links = r.objects(r.parse((await run(["ip", "-j", "-d", "link", "show"])).stdout), "the answer").map((l, i) => ({
    ifname: r.string(l.ifname, `link ${i} ifname`),
    master: r.optionalString(l.master, `link ${i} master`),
    link: r.optionalString(l.link, `link ${i} link`),
    kind: r.optionalString(r.optionalObject(l.linkinfo, `link ${i} linkinfo`)?.info_kind, `link ${i} linkinfo.info_kind`),
  }));
  const master = links.find((l) => l.ifname === iface)?.master;
  const onTop = links.filter((l) => l.link === iface && STACKED_KINDS.has(l.kind ?? "")).map((l) => l.ifname);
  return master ? [master, ...onTop] : onTop;
}
