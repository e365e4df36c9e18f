import { defineCommand } from "citty";
import { materialize } from "../bpf/embedded";
import { log } from "../log";
import { preflight } from "../system/checks";
import { attachProgram } from "../xdp/program";
import { attachArgs, ifaceArgs, outputArgs, parseIface, parseMode } from "./_args";

export default defineCommand({
  meta: {
    name: "attach",
    description: "Attach the program and leave it running, maps pinned (for scripts); undo with detach",
  },
  args: { ...ifaceArgs, ...attachArgs, ...outputArgs },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const mode = parseMode(args.mode);
    await preflight();
    const embedded = args.object ? undefined : await materialize();
    try {
      const att = await attachProgram({
        iface,
        mode,
        object: args.object ?? embedded!.object,
        force: args.force,
        config: { log: true, sources: false, block: false, srcFilter: false, sample: 1 },
      });
      if (args.json) console.log(JSON.stringify({ type: "attached", iface, mode: att.mode, prog_id: att.progId, pins: att.pins.dir }));
      log.success(`attached to ${iface} (${att.mode} mode, program id ${att.progId}); maps pinned under ${att.pins.mapDir}`);
    } finally {
      embedded?.remove();
    }
  },
});
