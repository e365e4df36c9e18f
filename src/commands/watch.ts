import { defineCommand } from "citty";
import { log } from "../log";
import { accounting, packetJson, packetLine, logSummary, summaryRecord } from "../output/format";
import { prometheusText, writeMetricsFile } from "../output/prometheus";
import { DataOut } from "../output/stdout";
import { withSession } from "../xdp/session";
import {
  attachArgs, blockArgs, compileFilters, describeFilters, filterArgs, ifaceArgs, metricsArgs, outputArgs, parseCount, parseFilters, parseIface, parseMode,
  parsePrometheusFile, parseSeconds, runArgs, statsArgs, sampleArgs,
} from "./_args";
import type { Stats } from "../bpf/layout";

/** Poll often enough that a ring never fills at the rates one core can send, and sooner when busy. */
const POLL_MS = 50;
/** Polls come every 50 ms; a metrics file is rewritten at most this often. */
const METRICS_MS = 1000;

export default defineCommand({
  meta: {
    name: "watch",
    description: "Log the source of every IP packet arriving on an interface, until Ctrl-C",
  },
  args: { ...ifaceArgs, ...runArgs, ...filterArgs, ...sampleArgs, ...blockArgs, ...metricsArgs, ...attachArgs, ...statsArgs, ...outputArgs },
  async run({ args, rawArgs }) {
    const iface = parseIface(args.iface);
    const count = parseCount(args.count, "--count");
    const durationSec = parseSeconds(args.duration, "--duration");
    const mode = parseMode(args.mode);
    const filters = await compileFilters(parseFilters(args, rawArgs), args.yes === true);
    const metricsFile = parsePrometheusFile(args["prometheus-file"]);
    const out = new DataOut();
    const writeMetrics = (stats: Stats) => {
      if (metricsFile) writeMetricsFile(metricsFile, prometheusText({ iface, stats }));
    };

    await withSession(
      {
        iface, mode, object: args.object, force: args.force, durationSec, stats: args.stats,
        config: { log: true, sources: false, ...filters.config }, block: filters.block, srcFilter: filters.srcFilter,
      },
      async (s) => {
        const { attached, reader, stop } = s;
        out.onClosed(() => stop.stop("stdout closed"));
        log.info(`watching ${iface} (${attached.mode} mode, program id ${attached.progId}); Ctrl-C to stop`);
        const described = describeFilters(filters);
        if (described) log.info(`filters: ${described}`);
        let printed = 0;
        let metricsAt = -Infinity;
        const emit = (packets: Awaited<ReturnType<typeof reader.poll>>["packets"]) => {
          const room = count === undefined ? packets.length : Math.max(0, count - printed);
          const shown = packets.slice(0, room);
          out.write(shown.map((p) => (args.json ? JSON.stringify(packetJson(p, iface)) : packetLine(p))));
          printed += shown.length;
          if (count !== undefined && printed >= count) stop.stop("count");
        };
        while (!stop.stopped) {
          const { packets, stats } = await reader.poll();
          emit(packets);
          if (performance.now() - metricsAt >= METRICS_MS) {
            writeMetrics(stats);
            metricsAt = performance.now();
          }
          s.checkInterface();
          if (packets.length < reader.ringRecords / 8) await stop.sleep(POLL_MS);
        }
        await s.detach();
        const last = await reader.poll();
        emit(last.packets);
        writeMetrics(last.stats);
        const record = summaryRecord({ iface, mode: attached.mode, elapsedMs: s.elapsedMs(), stoppedBy: stop.reason }, accounting(last.stats, reader), { printed, ...(await s.cost()) });
        if (args.json) out.write([JSON.stringify(record)]);
        logSummary(record);
      },
    );
  },
});
