import { PacketEncoder } from "../output/encoder";
import { prometheusText, writeMetricsFile } from "../output/prometheus";
import { DataOut } from "../output/stdout";
import { preflight } from "../system/checks";
import { refuseCuttingOff } from "../xdp/guard";
import type { RecordBatch } from "../xdp/batch";
import { runSession } from "../xdp/session";
import {
  attachArgs, blockArgs, filterArgs, ifaceArgs, metricsArgs, outputArgs, parseCount, parseIface, parseMode, parsePrometheusFile, parseSeconds, runArgs, statsArgs, sampleArgs,
} from "./_args";
import { compileFilters, describeFilters, parseFilters } from "./_filters";
import type { Stats } from "../bpf/layout";
import { defineCommand } from "./_command";

/** Poll at least this often; sooner when a ring fills fast (Reader.pollDelay). */
const POLL_MS = 50;
/** At most this, once nothing has come for a while (Reader.pollDelay): a quiet interface then costs half the CPU. */
const IDLE_POLL_MS = 200;
/** Polls come every 50 ms or sooner (200 ms when idle); a metrics file is rewritten at most this often. */
const METRICS_MS = 1000;

export default defineCommand({
  meta: {
    name: "watch",
    description: "Log the source of every IP packet arriving on an interface, until Ctrl-C",
  },
  args: { ...ifaceArgs, ...runArgs, ...filterArgs, ...sampleArgs, ...blockArgs, ...metricsArgs, ...attachArgs, ...statsArgs, ...outputArgs },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const count = parseCount(args.count, "--count");
    const durationSec = parseSeconds(args.duration, "--duration");
    const mode = parseMode(args.mode);
    const filters = await compileFilters(parseFilters(args), args.yes === true);
    const metricsFile = parsePrometheusFile(args["prometheus-file"]);
    const out = new DataOut();
    const json = args.json === true;
    preflight();
    await refuseCuttingOff(filters.block, iface, args.yes === true);

    await runSession(
      {
        command: "watch", iface, mode, object: args.object, force: args.force, durationSec, stats: args.stats, out, json,
        config: { log: true, sources: false, ...filters.config }, block: filters.block, srcFilter: filters.srcFilter, describe: describeFilters(filters),
      },
      ({ attached, reader, stop }) => {
        let printed = 0;
        let metricsAt = -Infinity;
        const writeMetrics = (stats: Stats) => {
          if (metricsFile) writeMetricsFile(metricsFile, prometheusText({ iface: attached.ref.name, stats }));
        };
        const encoder = new PacketEncoder(attached.ref.name, json);
        let named = attached.ref.name;
        const emit = (records: RecordBatch) => {
          if (named !== attached.ref.name) encoder.rename((named = attached.ref.name));
          const shown = count === undefined ? records.count : Math.min(records.count, Math.max(0, count - printed));
          out.writeRecords(encoder, records, shown);
          printed += shown;
          if (count !== undefined && printed >= count) stop.stop("count");
        };
        return {
          async step() {
            const { records, stats } = await reader.poll();
            emit(records);
            if (performance.now() - metricsAt >= METRICS_MS) {
              writeMetrics(stats);
              metricsAt = performance.now();
            }
            return reader.pollDelay(POLL_MS, IDLE_POLL_MS);
          },
          async final() {
            let last = await reader.poll();
            emit(last.records);
            // A poll reads a bounded share; the rings no longer move, so this ends.
            while (reader.backlog > 0) {
              last = await reader.poll();
              emit(last.records);
            }
            writeMetrics(last.stats);
            return last.stats;
          },
          extra: () => ({ printed }),
        };
      },
    );
  },
});
