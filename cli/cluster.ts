/**
 * `deno task cluster up [--nodes N] [--subnet A.B.C] | down | status | crash NODE | merge STORM_DIR`:
 * the local Slurm test cluster (see slurm/cluster.ts) and the storm merge.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  clusterDown,
  clusterStatus,
  clusterUp,
  crashNode,
} from "../slurm/cluster.ts";
import { mergeStorm } from "../slurm/merge.ts";

const USAGE =
  `deno task cluster — a local N-node Slurm cluster on this machine, for tests and trying things out

Usage:
  deno task cluster up [--nodes N] [--subnet A.B.C]   install Slurm + munge from Debian when missing, start
                                                       munged, slurmctld and N slurmd (default 3), each node
                                                       in its own namespaces on a private /24 bridge
  deno task cluster down                              stop everything; leave no daemon, namespace, bridge,
                                                       cgroup or config file behind
  deno task cluster status                            node states, and the SLURM_CONF to use
  deno task cluster crash NODE                        kill every process of NODE at once (a host that dies);
                                                       'up' brings it back
  deno task cluster merge STORM_DIR                   (re)build a multi-host storm's merged dataset from its
                                                       node runs (STORM_DIR/nodes/)

On a real cluster skip up/down: point SLURM_CONF (or /etc/slurm/slurm.conf) at it and run
deno task sweep --slurm … (see the README, "Multi-host storms").
`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      nodes: { type: "string" },
      subnet: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [cmd, arg] = positionals;
  if (values.help || !cmd) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  switch (cmd) {
    case "up": {
      const nodes = values.nodes === undefined
        ? undefined
        : Number(values.nodes);
      if (nodes !== undefined && !(Number.isInteger(nodes) && nodes >= 1)) {
        console.error(
          `error: invalid --nodes ${
            JSON.stringify(values.nodes)
          }: expected a whole number ≥ 1`,
        );
        return 2;
      }
      const t = performance.now();
      const info = await clusterUp({ nodes, subnet: values.subnet });
      console.error(
        `cluster: ready in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
      console.log(`export SLURM_CONF=${info.slurmConf}`);
      return 0;
    }
    case "down": {
      const left = await clusterDown();
      return Object.values(left).some((l) => l.length) ? 1 : 0;
    }
    case "status": {
      const info = await clusterStatus();
      if (!info) {
        console.log("no local cluster is up (deno task cluster up)");
        return 1;
      }
      for (const [n, s] of Object.entries(info.nodeStates)) {
        console.log(`${n} ${s}`);
      }
      console.log(`export SLURM_CONF=${info.slurmConf}`);
      return 0;
    }
    case "crash": {
      if (!arg) {
        console.error(
          "error: crash needs a node name, e.g. deno task cluster crash node2",
        );
        return 2;
      }
      const pids = await crashNode(arg);
      console.error(`cluster: killed ${pids.length} processes of ${arg}`);
      return 0;
    }
    case "merge": {
      if (!arg) {
        console.error(
          "error: merge needs a storm folder, e.g. deno task cluster merge data/storms/<id>",
        );
        return 2;
      }
      const m = await mergeStorm(arg);
      console.error(
        `cluster: merged ${m.hosts.length} hosts, ${m.rows} instances (${m.status})`,
      );
      console.log(m.dir);
      return 0;
    }
    default:
      console.error(
        `error: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`,
      );
      return 2;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
