import { defineCommand } from "citty";
import { log } from "../log";
import { accounting, logSummary, PacketEncoder, summaryRecord } from "../output/format";
import { prometheusText, writeMetricsFile } from "../output/prometheus";
import { DataOut } from "../output/stdout";
import type { RecordBatch } from "../xdp/reader";
import { withSession } from "../xdp/session";
import {
  attachArgs, blockArgs, describeFilters, filterArgs, ifaceArgs, metricsArgs, outputArgs, parseCount, parseFilters, parseIface, parseMode,
  parsePrometheusFile, parseSeconds, runArgs, statsArgs, sampleArgs,
} from "./_args";
import type { Stats } from "../bpf/layout";

/** Poll at least this often; sooner when a ring fills fast (Reader.pollDelay). */
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
    const filters = parseFilters(args, rawArgs);
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
        const encoder = new PacketEncoder(iface, args.json === true);
        const emit = (records: RecordBatch) => {
          const shown = count === undefined ? records.count : Math.min(records.count, Math.max(0, count - printed));
          out.writeRecords(encoder, records, shown);
          printed += shown;
          if (count !== undefined && printed >= count) stop.stop("count");
        };
        while (!stop.stopped) {
          const { records, stats } = await reader.poll();
          emit(records);
          if (performance.now() - metricsAt >= METRICS_MS) {
            writeMetrics(stats);
            metricsAt = performance.now();
          }
          s.checkInterface();
          await stop.sleep(reader.pollDelay(POLL_MS));
        }
        await s.detach();
        let last = await reader.poll();
        emit(last.records);
        // A poll reads a bounded share; the rings no longer move, so this ends.
        while (reader.backlog > 0) {
          last = await reader.poll();
          emit(last.records);
        }
        writeMetrics(last.stats);
        const record = summaryRecord({ iface, mode: attached.mode, elapsedMs: s.elapsedMs(), stoppedBy: stop.reason }, accounting(last.stats, reader), { printed, ...(await s.cost()) });
        if (args.json) out.write([JSON.stringify(record)]);
        logSummary(record);
      },
    );
  },
});
