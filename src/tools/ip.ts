/** The one place that runs iproute2's `ip`. */
import * as v from "valibot";
import { XwError } from "../errors";
import { installFix, run } from "./run";

export type XdpMode = "native" | "generic";

/** IFLA_XDP_ATTACHED values as `ip -j` prints them. */
const ATTACHED_MODES: Record<number, string> = { 1: "native", 2: "generic", 3: "offload", 4: "multi" };
const IP_MODE_KEYWORD: Record<XdpMode, string> = { native: "xdpdrv", generic: "xdpgeneric" };

const ProgSchema = v.looseObject({ id: v.number(), name: v.optional(v.string()), tag: v.optional(v.string()) });
const LinkSchema = v.looseObject({
  ifindex: v.number(),
  ifname: v.string(),
  operstate: v.optional(v.string()),
  linkinfo: v.optional(v.looseObject({ info_kind: v.optional(v.string()) })),
  link_type: v.optional(v.string()),
  xdp: v.optional(
    v.looseObject({
      mode: v.number(),
      prog: v.optional(ProgSchema),
      attached: v.optional(v.array(v.looseObject({ mode: v.number(), prog: ProgSchema }))),
    }),
  ),
});
const LinksSchema = v.array(LinkSchema);

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

function toLink(raw: v.InferOutput<typeof LinkSchema>): Link {
  const xdp: AttachedProgram[] = [];
  const entries = raw.xdp?.attached ?? (raw.xdp?.prog ? [{ mode: raw.xdp.mode, prog: raw.xdp.prog }] : []);
  for (const a of entries) {
    xdp.push({ id: a.prog.id, name: a.prog.name ?? "", tag: a.prog.tag ?? "", mode: ATTACHED_MODES[a.mode] ?? String(a.mode) });
  }
  return { ifindex: raw.ifindex, ifname: raw.ifname, operstate: raw.operstate, xdp, kind: raw.linkinfo?.info_kind, linkType: raw.link_type };
}

function parseLinks(stdout: string): Link[] {
  const parsed = v.safeParse(LinksSchema, JSON.parse(stdout));
  if (!parsed.success) throw new XwError(`unexpected output from ip -j link: ${v.summarize(parsed.issues)}`);
  return parsed.output.map(toLink);
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

const AddrSchema = v.array(v.looseObject({ addr_info: v.optional(v.array(v.looseObject({ local: v.optional(v.string()) }))) }));

/** The addresses assigned to an interface (IPv4 and IPv6, as ip prints them). */
export async function addresses(iface: string): Promise<string[]> {
  const res = await run(["ip", "-j", "addr", "show", "dev", iface], { allowFailure: true });
  if (res.exitCode !== 0) return [];
  const parsed = v.safeParse(AddrSchema, JSON.parse(res.stdout));
  if (!parsed.success) throw new XwError(`unexpected output from ip -j addr: ${v.summarize(parsed.issues)}`);
  return parsed.output.flatMap((l) => (l.addr_info ?? []).flatMap((a) => (a.local ? [a.local] : [])));
}

/** Kinds whose device sits on top of its `link` (the kernel's upper/lower adjacency); a veth's `link` is its peer. */
const STACKED_KINDS = new Set(["vlan", "macvlan", "macvtap", "ipvlan", "ipvtap"]);
const DetailSchema = v.array(
  v.looseObject({ ifname: v.string(), master: v.optional(v.string()), link: v.optional(v.string()), linkinfo: v.optional(v.looseObject({ info_kind: v.optional(v.string()) })) }),
);

/** The devices directly above an interface (its bridge or bond, VLANs and macvlans on it), from netlink. */
export async function upperDevices(iface: string): Promise<string[]> {
  const parsed = v.safeParse(DetailSchema, JSON.parse((await run(["ip", "-j", "-d", "link", "show"])).stdout));
  if (!parsed.success) throw new XwError(`unexpected output from ip -j -d link: ${v.summarize(parsed.issues)}`);
  const master = parsed.output.find((l) => l.ifname === iface)?.master;
  const onTop = parsed.output.filter((l) => l.link === iface && STACKED_KINDS.has(l.linkinfo?.info_kind ?? "")).map((l) => l.ifname);
  return master ? [master, ...onTop] : onTop;
}
