import { defineCommand } from "citty";
import { existsSync, readdirSync } from "node:fs";
import { log } from "../log";
import * as ip from "../tools/ip";
import { programCost, statsEnabled } from "../xdp/cost";
import { findOurs, pinnedProg } from "../xdp/program";
import { isAlive, PIN_ROOT, pinsFor, readOwner } from "../xdp/pins";
import { outputArgs } from "./_args";

export interface StatusRow {
  iface: string;
  ifindex?: number;
  prog_id?: number;
  name?: string;
  tag?: string;
  mode?: string;
  ours: boolean;
  owner_pid?: number;
  pins?: string;
  note?: string;
  /** The program's measured cost on live traffic, when kernel.bpf_stats_enabled is on. */
  ns_per_packet?: number;
  run_cnt?: number;
}

export async function collectStatus(): Promise<StatusRow[]> {
  const rows: StatusRow[] = [];
  const links = await ip.listLinks();
  const statsOn = statsEnabled();
  const pinnedIfaces = existsSync(PIN_ROOT) ? readdirSync(PIN_ROOT) : [];
  for (const link of links) {
    const pins = pinsFor(link.ifname);
    const pinned = pinnedIfaces.includes(link.ifname) ? await pinnedProg(pins) : undefined;
    const owner = readOwner(link.ifname);
    const livePid = owner !== undefined && isAlive(owner) ? owner : undefined;
    const oursId = link.xdp.length > 0 ? (await findOurs(link, pinned))?.id : undefined;
    for (const p of link.xdp) {
      const ours = p.id === oursId;
      const cost = statsOn ? await programCost(p.id) : undefined;
      const note = !ours
        ? undefined
        : !pinned
          ? "xdpwatch's program (by tag) without its pins: xdpwatch detach removes it"
          : livePid
            ? undefined
            : "attached with no process watching (xdpwatch attach, or a killed watch)";
      rows.push({
        ...(cost && { ns_per_packet: cost.ns_per_packet, run_cnt: cost.run_cnt }),
        iface: link.ifname, ifindex: link.ifindex, prog_id: p.id, name: p.name, tag: p.tag, mode: p.mode, ours,
        owner_pid: ours ? livePid : undefined,
        pins: ours && pinned ? pins.dir : undefined,
        note,
      });
    }
    if (pinned && !link.xdp.some((p) => p.id === pinned.id))
      rows.push({ iface: link.ifname, ifindex: link.ifindex, ours: true, pins: pins.dir, note: "stale pins, program not attached: xdpwatch detach cleans them" });
  }
  for (const name of pinnedIfaces)
    if (!links.some((l) => l.ifname === name))
      rows.push({ iface: name, ours: true, pins: pinsFor(name).dir, note: "stale pins for an interface that no longer exists: xdpwatch detach cleans them" });
  return rows;
}

export default defineCommand({
  meta: { name: "status", description: "List interfaces that have an XDP program, xdpwatch's or anyone's" },
  args: { ...outputArgs },
  async run({ args }) {
    const rows = await collectStatus();
    if (args.json) {
      for (const r of rows) console.log(JSON.stringify({ type: "status", ...r }));
      return;
    }
    if (rows.length === 0) {
      log.info("no XDP programs attached");
      return;
    }
    for (const r of rows) {
      const who = r.ours ? `xdpwatch${r.owner_pid ? ` (pid ${r.owner_pid})` : ""}` : "not xdpwatch";
      const cost = r.ns_per_packet === undefined ? "" : ` ${r.ns_per_packet} ns/packet over ${r.run_cnt} runs`;
      const prog = r.prog_id ? `id ${r.prog_id} ${r.name ?? ""} ${r.mode ?? ""} tag ${r.tag ?? "?"}${cost}` : "no program";
      console.log(`${r.iface.padEnd(15)} ${prog.padEnd(46)} ${who}${r.note ? ` — ${r.note}` : ""}`);
    }
  },
});
