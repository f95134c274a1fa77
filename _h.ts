import { ANALYSIS_COLUMNS, loadRuns } from "./analysis/load.ts";
import {
  hostConcurrencyBins,
  hostSummary,
  recoveryCurve,
  slowestHost,
  timeToFraction,
} from "./analysis/hosts.ts";
const set = await loadRuns(Deno.args[0], { columns: ANALYSIS_COLUMNS });
for (const r of set.runs) console.log(r.warnings);
const s = hostSummary(set.instances);
s.print();
console.log(slowestHost(s));
hostConcurrencyBins(set.instances, { width: 8 }).print();
const c = recoveryCurve(set.instances);
console.log(timeToFraction(c, 0.5), timeToFraction(c, 1));
