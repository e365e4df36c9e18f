import { SOURCES_MAX } from "../bpf/layout";
import { prometheusText, writeMetricsFile } from "../output/prometheus";
import { sourcesJson, sourcesTable, type SourcesSnapshot } from "../output/sources";
import { DataOut } from "../output/stdout";
import { preflight } from "../system/checks";
import { refuseCuttingOff } from "../xdp/guard";
import { runSession } from "../xdp/session";
import { readSources, SourceTracker } from "../xdp/sources";
import {
  attachArgs, blockArgs, byArgs, filterArgs, ifaceArgs, limitArgs, metricsArgs, outputArgs, parseCount, parseIface, parseMode, parsePrometheusFile, parseSeconds, runArgs, statsArgs,
} from "./_args";
import { compileFilters, describeFilters, parseBy, parseFilters } from "./_filters";
import { defineCommand } from "./_command";

/** Cursor home, then erase to the end: the table is redrawn in place without scrolling. */
const REDRAW = "\x1b[H\x1b[J";

export default defineCommand({
  meta: {
    name: "top",
    description: "Count packets per source (or --by another key) in the kernel and show the busiest, refreshed every interval",
  },
  args: {
    ...ifaceArgs,
    ...byArgs,
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
  async run({ args }) {
    const iface = parseIface(args.iface);
    const intervalMs = parseSeconds(args.interval, "--interval")! * 1000;
    const durationSec = parseSeconds(args.duration, "--duration");
    const limit = parseCount(args.limit, "--limit", 1, SOURCES_MAX)!;
    const mode = parseMode(args.mode);
    const by = parseBy(args.by) ?? { key: "src" };
    const filters = await compileFilters(parseFilters(args), args.yes === true);
    const metricsFile = parsePrometheusFile(args["prometheus-file"]);
    const out = new DataOut();
    const json = args.json === true;
    const redraw = !json && process.stdout.isTTY === true;
    preflight();
    await refuseCuttingOff(filters.block, iface, args.yes === true);

    await runSession(
      {
        command: "top", iface, mode, object: args.object, force: args.force, durationSec, stats: args.stats, out, json,
        // No log: the ring is not read, every matching packet is counted per source instead.
        config: { log: false, sources: true, by, ...filters.config }, block: filters.block, srcFilter: filters.srcFilter, describe: describeFilters(filters, by),
      },
      ({ attached, reader }) => {
        const tracker = new SourceTracker(Date.now());
        const show = async () => {
          const read = await readSources(reader, attached.pins, by);
          const ts = Date.now();
          const name = attached.ref.name;
          const table = { top: tracker.update(read.sources, ts).slice(0, limit), tracked: read.sources.length, evicted: read.evicted };
          const snapshot: SourcesSnapshot = { ts, iface: name, by, table };
          if (json) out.write([JSON.stringify(sourcesJson(snapshot))]);
          else if (redraw) out.write([REDRAW + sourcesTable(snapshot).join("\n")]);
          else out.write([...sourcesTable(snapshot), ""]);
          if (metricsFile) writeMetricsFile(metricsFile, prometheusText({ iface: name, stats: read.stats, sources: table, by }));
          return read.stats;
        };
        let first = true;
        return {
          // The first round only waits: a table comes every interval, not at start.
          async step() {
            if (!first) await show();
            first = false;
            return intervalMs;
          },
          final: show,
        };
      },
    );
  },
});
