import { log } from "../log";
import { collectStatus } from "../xdp/status";
import { outputArgs } from "./_args";
import { defineCommand } from "./_command";

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
      const who = r.ours ? `xdpwatch${r.by ? ` ${r.by}` : ""}${r.owner_pid ? ` (pid ${r.owner_pid})` : ""}` : "not xdpwatch";
      const cost = r.ns_per_packet === undefined ? "" : ` ${r.ns_per_packet} ns/packet over ${r.run_cnt} runs`;
      const prog = r.prog_id ? `id ${r.prog_id} ${r.name ?? ""} ${r.mode ?? ""} tag ${r.tag ?? "?"}${cost}` : "no program";
      const extra = [r.filters && `filters: ${r.filters}`, r.replaced_id && `replaced id ${r.replaced_id}, put back at detach`, r.note].filter(Boolean).join("; ");
      console.log(`${r.iface.padEnd(15)} ${prog.padEnd(46)} ${who}${extra ? ` — ${extra}` : ""}`);
    }
  },
});
