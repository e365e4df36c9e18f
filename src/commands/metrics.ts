import { SOURCES_MAX } from "../bpf/layout";
import { XwError } from "../errors";
import { log } from "../log";
import { writeMetricsFile } from "../output/prometheus";
import { inspectHook } from "../xdp/hook";
import { pinnedMetrics } from "../xdp/metrics";
import { ifaceArgs, limitArgs, metricsArgs, outputArgs, parseCount, parseIface, parsePrometheusFile } from "./_args";
import { defineCommand } from "./_command";

export default defineCommand({
  meta: {
    name: "metrics",
    description: "Print Prometheus metrics of the program `xdpwatch attach` left on an interface (for cron and node_exporter)",
  },
  // No --json: the output is Prometheus text. Silent on success, so that cron mails only failures.
  args: { ...ifaceArgs, ...metricsArgs, ...limitArgs, verbose: outputArgs.verbose, quiet: outputArgs.quiet },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const limit = parseCount(args.limit, "--limit", 1, SOURCES_MAX)!;
    const file = parsePrometheusFile(args["prometheus-file"]);
    const state = await inspectHook(iface);
    if (!state.ours)
      throw new XwError(`xdpwatch is not attached to ${iface}`, { hint: `xdpwatch attach --iface ${iface} --sources leaves it running for metrics` });
    const text = await pinnedMetrics(iface, state.pins, limit);
    if (file) {
      writeMetricsFile(file, text);
      log.debug(`wrote ${file}`);
    } else process.stdout.write(text);
  },
});
