import { defineCommand } from "citty";
import { log } from "../log";
import { accounting, accountingLine, packetJson, packetLine } from "../output/format";
import { DataOut } from "../output/stdout";
import { withSession } from "../xdp/session";
import { attachArgs, ifaceArgs, outputArgs, parseCount, parseIface, parseMode, parseSeconds, runArgs } from "./_args";
import { XwError } from "../errors";
import { RING_RECORDS } from "../bpf/layout";

/** Poll often enough that a ring never fills at the rates one core can send, and sooner when busy. */
const POLL_MS = 50;

export default defineCommand({
  meta: {
    name: "watch",
    description: "Log the source of every IP packet arriving on an interface, until Ctrl-C",
  },
  args: { ...ifaceArgs, ...runArgs, ...attachArgs, ...outputArgs },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const count = parseCount(args.count, "--count");
    const durationSec = parseSeconds(args.duration, "--duration");
    const mode = parseMode(args.mode);
    const out = new DataOut();

    const summary = await withSession(
      { iface, mode, object: args.object, force: args.force, durationSec, config: { log: true, sources: false, block: false, srcFilter: false, sample: 1 } },
      async (s) => {
        const { attached, reader, stop } = s;
        out.onClosed(() => stop.stop("stdout closed"));
        log.info(`watching ${iface} (${attached.mode} mode, program id ${attached.progId}); Ctrl-C to stop`);
        let printed = 0;
        const emit = (packets: Awaited<ReturnType<typeof reader.poll>>["packets"]) => {
          const room = count === undefined ? packets.length : Math.max(0, count - printed);
          const shown = packets.slice(0, room);
          out.write(shown.map((p) => (args.json ? JSON.stringify(packetJson(p, iface)) : packetLine(p))));
          printed += shown.length;
          if (count !== undefined && printed >= count) stop.stop("count");
        };
        while (!stop.stopped) {
          const { packets } = await reader.poll();
          emit(packets);
          s.checkInterface();
          if (packets.length < RING_RECORDS / 8) await stop.sleep(POLL_MS);
        }
        await s.detach();
        const last = await reader.poll();
        emit(last.packets);
        const acc = accounting(last.stats, reader);
        const record = {
          type: "summary" as const,
          iface,
          mode: attached.mode,
          duration_s: Math.round(s.elapsedMs()) / 1000,
          printed,
          ...acc,
          stopped_by: stop.reason,
        };
        if (args.json) out.write([JSON.stringify(record)]);
        log.success(`${iface}: ${accountingLine(acc)} in ${record.duration_s} s${acc.exact ? "" : " (counts do not add up!)"}`);
        return { stop };
      },
    );
    if (summary.stop.reason === "interface gone") throw new XwError(summary.stop.detail ?? "the interface went away");
  },
});
