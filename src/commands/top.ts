import { defineCommand } from "citty";
import { SOURCES_MAX } from "../bpf/layout";
import { log } from "../log";
import { accounting, logSummary, summaryRecord } from "../output/format";
import { prometheusText, writeMetricsFile } from "../output/prometheus";
import { sourcesJson, sourcesTable, type SourcesSnapshot } from "../output/sources";
import { DataOut } from "../output/stdout";
import { withSession } from "../xdp/session";
import { readSources, SourceTracker } from "../xdp/sources";
import {
  attachArgs, blockArgs, compileFilters, describeFilters, filterArgs, ifaceArgs, limitArgs, metricsArgs, outputArgs, parseCount, parseFilters, parseIface,
  parseMode, parsePrometheusFile, parseSeconds, runArgs, statsArgs,
} from "./_args";

/** Cursor home, then erase to the end: the table is redrawn in place without scrolling. */
const REDRAW = "\x1b[H\x1b[J";

export default defineCommand({
  meta: {
    name: "top",
    description: "Count packets per source in the kernel and show the busiest sources, refreshed every interval",
  },
  args: {
    ...ifaceArgs,
    interval: { type: "string", default: "1", description: "refresh every SEC seconds", valueHint: "SEC" },
    duration: runArgs.duration,
    ...limitArgs,
    ...filterArgs,
    ...blockArgs,
    ...metricsArgs,
    ...attachArgs,
    ...statsArgs,
    ...outputArgs,
  },
  async run({ args, rawArgs }) {
    const iface = parseIface(args.iface);
    const intervalMs = parseSeconds(args.interval, "--interval")! * 1000;
    const durationSec = parseSeconds(args.duration, "--duration");
    const limit = parseCount(args.limit, "--limit", 1, SOURCES_MAX)!;
    const mode = parseMode(args.mode);
    const filters = await compileFilters(parseFilters(args, rawArgs), args.yes === true);
    const metricsFile = parsePrometheusFile(args["prometheus-file"]);
    const out = new DataOut();
    const redraw = !args.json && process.stdout.isTTY === true;

    await withSession(
      {
        iface, mode, object: args.object, force: args.force, durationSec, stats: args.stats,
        // No log: the ring is not read, every matching packet is counted per source instead.
        config: { log: false, sources: true, ...filters.config }, block: filters.block, srcFilter: filters.srcFilter,
      },
      async (s) => {
        const { attached, reader, stop } = s;
        out.onClosed(() => stop.stop("stdout closed"));
        log.info(`counting sources on ${iface} (${attached.mode} mode, program id ${attached.progId}); Ctrl-C to stop`);
        const described = describeFilters(filters);
        if (described) log.info(`filters: ${described}`);
        const tracker = new SourceTracker(Date.now());
        const show = async () => {
          const read = await readSources(reader, attached.pins);
          const ts = Date.now();
          const table = { top: tracker.update(read.sources, ts).slice(0, limit), tracked: read.sources.length, evicted: read.evicted };
          const snapshot: SourcesSnapshot = { ts, iface, table };
          if (args.json) out.write([JSON.stringify(sourcesJson(snapshot))]);
          else if (redraw) out.write([REDRAW + sourcesTable(snapshot).join("\n")]);
          else out.write([...sourcesTable(snapshot), ""]);
          if (metricsFile) writeMetricsFile(metricsFile, prometheusText({ iface, stats: read.stats, sources: table }));
          return read.stats;
        };
        while (!stop.stopped) {
          await stop.sleep(intervalMs);
          s.checkInterface();
          if (!stop.stopped) await show();
        }
        await s.detach();
        // Read again once detached: the counts no longer move, so this snapshot is the final one.
        const stats = await show();
        const record = summaryRecord({ iface, mode: attached.mode, elapsedMs: s.elapsedMs(), stoppedBy: stop.reason }, accounting(stats, reader), { ...(await s.cost()) });
        if (args.json) out.write([JSON.stringify(record)]);
        logSummary(record);
      },
    );
  },
});
