/** `status`: every XDP program on this namespace's interfaces, whose it is, and what xdpwatch left where. */
import * as ip from "../tools/ip";
import { currentNetns, type IfaceRef } from "./iface";
import { readOwner, type Owner } from "./owner";
import { pinnedIfaces, pinsFor, type Pins } from "./pins";

export interface StatusRow {
  iface: string;
  ifindex?: number;
  prog_id?: number;
  name?: string;
  tag?: string;
  mode?: string;
  ours: boolean;
  /** Who put our program there: a live watch/top (with its pid), or `attach`. */
  by?: "watch" | "top" | "attach";
  owner_pid?: number;
  /** The filters and --block ranges it was started with. */
  filters?: string;
  pins?: string;
  /** The program --force replaced, put back when xdpwatch stops. */
  replaced_id?: number;
  note?: string;
  /** The program's measured cost on live traffic, when kernel.bpf_stats_enabled is on. */
  ns_per_packet?: number;
  run_cnt?: number;
}

function ourNote(owner: Owner | undefined, pinned: boolean): string | undefined {
  // A live run's pins may sit in a bpffs of its own mount namespace (ip netns exec mounts one).
  if (owner?.alive) return undefined;
  if (!pinned) return "xdpwatch's program (by tag) without its pins: xdpwatch detach removes it";
  if (owner?.command === "attach") return `left by xdpwatch attach at ${owner.started}: xdpwatch detach removes it`;
  if (owner) return `left by a ${owner.command} (pid ${owner.pid}) that was killed: xdpwatch detach removes it`;
  return "attached with no process watching: xdpwatch detach removes it";
}

export async function collectStatus(): Promise<StatusRow[]> {
  const links = await ip.listLinks();
  const netns = currentNetns();
  const pinned = pinnedIfaces(netns);
  // The usual answer, given without loading what inspects programs (bpftool, the embedded object's tags): a script waits for it.
  if (pinned.length === 0 && links.every((l) => l.xdp.length === 0)) return [];
  const [{ findOurs, findReplaced }, { programCost }] = await Promise.all([import("./hook"), import("./cost")]);
  const rows: StatusRow[] = [];
  for (const link of links) {
    const ref: IfaceRef = { netns, ifindex: link.ifindex, name: link.ifname };
    const found = pinned.find((p) => p.ref.ifindex === link.ifindex);
    const pins: Pins = found?.pins ?? pinsFor(ref);
    const owner = readOwner(ref);
    const ours = await findOurs(link, pins);
    const replaced = found ? await findReplaced(found.pins) : undefined;
    for (const p of link.xdp) {
      const isOurs = p.id === ours?.id;
      const cost = await programCost(p.id);
      rows.push({
        ...(cost && { ns_per_packet: cost.ns_per_packet, run_cnt: cost.run_cnt }),
        iface: link.ifname, ifindex: link.ifindex, prog_id: p.id, name: p.name, tag: p.tag, mode: p.mode, ours: isOurs,
        ...(isOurs && owner && { by: owner.command, filters: owner.filters }),
        ...(isOurs && replaced && { replaced_id: replaced.id }),
        owner_pid: isOurs && owner?.alive ? owner.pid : undefined,
        pins: isOurs && found ? pins.dir : undefined,
        note: isOurs ? ourNote(owner, found !== undefined) : undefined,
      });
    }
    if (found && !link.xdp.some((p) => p.id === ours?.id))
      rows.push({ iface: link.ifname, ifindex: link.ifindex, ours: true, pins: pins.dir, note: "stale pins, program not attached: xdpwatch detach cleans them" });
  }
  for (const p of pinned)
    if (!links.some((l) => l.ifindex === p.ref.ifindex))
      rows.push({ iface: p.ref.name, ours: true, pins: p.pins.dir, note: "stale pins for an interface that no longer exists: xdpwatch detach cleans them" });
  return rows;
}
