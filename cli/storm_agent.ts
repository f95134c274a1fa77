/**
 * The node agent's entry point, run by `srun` on every node of a storm's
 * job (see slurm/agent.ts): `storm_agent.ts --storm DIR --coordinator
 * HOST:PORT --token T`. Not meant to be run by hand.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runAgent } from "../slurm/agent.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    storm: { type: "string" },
    coordinator: { type: "string" },
    token: { type: "string" },
  },
});
const m = /^(.+):(\d+)$/.exec(values.coordinator ?? "");
if (!values.storm || !m || !values.token) {
  console.error(
    "usage: storm_agent.ts --storm DIR --coordinator HOST:PORT --token T (started by deno task sweep --slurm through srun)",
  );
  Deno.exit(2);
}
const ctl = new AbortController();
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(sig, () => ctl.abort());
}
try {
  Deno.exit(
    await runAgent({
      storm: values.storm,
      coordinator: { host: m[1], port: Number(m[2]) },
      token: values.token,
      signal: ctl.signal,
    }),
  );
} catch (e) {
  console.error(`agent: error: ${(e as Error).message}`);
  Deno.exit(1);
}
