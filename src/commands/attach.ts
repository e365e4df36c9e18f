import { XwError } from "../errors";
import { log, withProgress } from "../log";
import { writeMetricsFile } from "../output/prometheus";
import { preflight } from "../system/checks";
import { refuseCuttingOff } from "../xdp/guard";
import { attachProgram } from "../xdp/hook";
import { pinnedMetrics } from "../xdp/metrics";
import {
  attachArgs, blockArgs, byArgs, DEFAULT_LIMIT, expressionArgs, ifaceArgs, metricsArgs, outputArgs, parseIface, parseMode, parsePrometheusFile,
} from "./_args";
import { compileFilters, describeFilters, parseBy, parseFilters } from "./_filters";
import { defineCommand } from "./_command";

export default defineCommand({
  meta: {
    name: "attach",
    description: "Attach the program and leave it running, maps pinned (for scripts); undo with detach",
  },
  args: {
    ...ifaceArgs,
    ...expressionArgs,
    ...blockArgs,
    // Off by default: a hash lookup per packet, paid only by those who read `xdpwatch metrics`.
    sources: { type: "boolean", description: "also count packets per source (or --by KEY), for `xdpwatch metrics`" },
    // --by alone means counting too: asking for a key and getting no counts would help nobody.
    by: { ...byArgs.by, description: `${byArgs.by.description}; implies --sources` },
    ...metricsArgs,
    ...attachArgs,
    ...outputArgs,
  },
  async run({ args }) {
    const iface = parseIface(args.iface);
    const mode = parseMode(args.mode);
    const by = parseBy(args.by);
    const sources = args.sources === true || by !== undefined;
    const filters = await compileFilters(parseFilters(args), args.yes === true);
    const metricsFile = parsePrometheusFile(args["prometheus-file"]);
    preflight();
    await refuseCuttingOff(filters.block, iface, args.yes === true);
    const described = describeFilters(filters, by);
    const att = await withProgress(`loading and attaching to ${iface}`, attachProgram({
      command: "attach",
      iface,
      mode,
      object: args.object,
      force: args.force,
      config: { log: true, sources, ...(by && { by }), ...filters.config },
      block: filters.block,
      describe: described,
    }));
    if (args.json) console.log(JSON.stringify({ type: "attached", iface, mode: att.mode, prog_id: att.progId, pins: att.pins.dir, ...(att.replaced && { replaced_id: att.replaced.id }) }));
    log.success(`attached to ${iface} (${att.mode} mode, program id ${att.progId}); maps pinned under ${att.pins.mapDir}`);
    if (described) log.info(`filters: ${described}`);
    if (metricsFile) {
      try {
        writeMetricsFile(metricsFile, await pinnedMetrics(iface, att.pins, DEFAULT_LIMIT));
      } catch (err) {
        throw new XwError((err as Error).message, { hint: `the program stays attached: \`xdpwatch metrics --iface ${iface} --prometheus-file FILE\` writes the file later` });
      }
    }
  },
});
