/**
 * The local test cluster's plan and configuration files, as pure data:
 * names, addresses, `slurm.conf`, `cgroup.conf`, each node's `/etc/hosts`
 * and the shell line that starts a node's `slurmd` inside its own network,
 * UTS, mount and cgroup namespaces. `cluster.ts` applies them.
 *
 * Layout (see ../shared/notes/slurm-on-this-machine.md for why):
 * - a bridge `bsbr0` with a private /24 that exists only there
 *   (`<subnet>.1` in the root namespace);
 * - `slurmctld` in namespace `bs-ctl` (`<subnet>.2`, hostname `bsctl`), so
 *   no Slurm port listens in the root namespace;
 * - node `nodeK` in namespace `bs-nodeK` (`<subnet>.(10+K)`);
 * - no default route anywhere, no forwarding, IPv6 off on those links.
 *
 * @module
 */

/** Everything needed to bring the cluster up and tear it down. */
export interface ClusterPlan {
  /** Node names, `node1` … `nodeN`. */
  nodes: string[];
  /** First three octets of the private /24, e.g. `10.213.61`. */
  subnet: string;
  /** Bridge device in the root namespace. */
  bridge: string;
  /** Folder holding config, state, spool and logs (removed by `down`). */
  dir: string;
  /** Hostname of the controller's namespace. */
  controller: string;
  /** The one partition, holding every node. */
  partition: string;
  /** CPUs each node advertises. */
  cpusPerNode: number;
  /** The root namespace's short hostname (the submitting host). */
  rootHostname: string;
  /** cgroup v1 hierarchies each node gets its own directory in. */
  hierarchies: string[];
  /** Parent cgroup directory (below each hierarchy's root) of the node directories. */
  cgroupParent: string;
}

/** Default folder of the local cluster. */
export const CLUSTER_DIR = "/run/bootstorm-cluster";

/** Default private subnet (/24) of the cluster's bridge. */
export const DEFAULT_SUBNET = "10.213.61";

/** cgroup v1 hierarchies a node gets its own directory in (not `memory`: see cluster.ts). */
export const NODE_HIERARCHIES: readonly string[] = [
  "cpu",
  "cpuacct",
  "cpuset",
  "devices",
  "freezer",
  "blkio",
  "pids",
];

/**
 * The plan of an N-node cluster.
 *
 * @example
 * ```ts
 * import { clusterPlan, nodeAddress } from "./cluster_config.ts";
 * const p = clusterPlan({ nodes: 3, rootHostname: "vm" });
 * console.log(p.nodes.join(","), nodeAddress(p, "node2")); // "node1,node2,node3" "10.213.61.12"
 * ```
 */
export function clusterPlan(options: {
  nodes?: number;
  subnet?: string;
  dir?: string;
  cpusPerNode?: number;
  rootHostname: string;
}): ClusterPlan {
  const n = options.nodes ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > 200) {
    throw new Error(
      `Cannot plan a cluster of ${n} nodes: give --nodes a whole number from 1 to 200`,
    );
  }
  const subnet = options.subnet ?? DEFAULT_SUBNET;
  if (!isPrivateSubnet(subnet)) {
    throw new Error(
      `Cannot use subnet ${
        JSON.stringify(subnet)
      }: give the first three octets of a private /24 (10.x.y, 172.16-31.x or 192.168.x), e.g. --subnet ${DEFAULT_SUBNET}`,
    );
  }
  return {
    nodes: Array.from({ length: n }, (_, i) => `node${i + 1}`),
    subnet,
    bridge: "bsbr0",
    dir: options.dir ?? CLUSTER_DIR,
    controller: "bsctl",
    partition: "storm",
    cpusPerNode: options.cpusPerNode ?? 2,
    rootHostname: options.rootHostname.split(".")[0],
    hierarchies: [...NODE_HIERARCHIES],
    cgroupParent: "bootstorm-cluster",
  };
}

/**
 * Whether `a.b.c` names a private /24 (RFC 1918).
 *
 * @example
 * ```ts
 * import { isPrivateSubnet } from "./cluster_config.ts";
 * console.log(isPrivateSubnet("10.213.61"), isPrivateSubnet("8.8.8")); // true false
 * ```
 */
export function isPrivateSubnet(subnet: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(subnet);
  if (!m) return false;
  const [a, b, c] = m.slice(1).map(Number);
  if ([a, b, c].some((x) => x > 255)) return false;
  return a === 10 || (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168);
}

/** The root namespace's address on the bridge (the submitting host). */
export function bridgeAddress(plan: ClusterPlan): string {
  return `${plan.subnet}.1`;
}

/** The controller's address. */
export function controllerAddress(plan: ClusterPlan): string {
  return `${plan.subnet}.2`;
}

/** A node's address: `<subnet>.(10 + K)` for `nodeK`. */
export function nodeAddress(plan: ClusterPlan, node: string): string {
  return `${plan.subnet}.${10 + plan.nodes.indexOf(node) + 1}`;
}

/** Network namespace of a node (or `ctl`). */
export function namespaceOf(name: string): string {
  return `bs-${name}`;
}

/** Host side of the veth pair of a node (or `ctl`), at most 15 characters. */
export function vethOf(name: string): string {
  return `bsv-${name}`.slice(0, 15);
}

/** Path of slurm.conf. */
export function slurmConfPath(plan: ClusterPlan): string {
  return `${plan.dir}/etc/slurm.conf`;
}

/** Node names in Slurm's range syntax, e.g. `node[1-3]`. */
export function nodeRange(plan: ClusterPlan): string {
  return plan.nodes.length === 1 ? "node1" : `node[1-${plan.nodes.length}]`;
}

/**
 * `slurm.conf` of the cluster (Slurm 22.05): munge, proctrack/cgroup,
 * task/none, per-node spool, pid and log files, short timeouts so a dead
 * node is noticed within seconds.
 *
 * @example
 * ```ts
 * import { clusterPlan, slurmConf } from "./cluster_config.ts";
 * console.log(slurmConf(clusterPlan({ rootHostname: "vm" })).includes("ProctrackType=proctrack/cgroup")); // true
 * ```
 */
export function slurmConf(plan: ClusterPlan): string {
  const d = plan.dir;
  const lines = [
    "# Generated by deno task cluster up (bootstorm's local test cluster); removed by deno task cluster down.",
    "ClusterName=bootstorm",
    `SlurmctldHost=${plan.controller}(${controllerAddress(plan)})`,
    "SlurmUser=root",
    "SlurmdUser=root",
    "AuthType=auth/munge",
    "CryptoType=crypto/munge",
    `StateSaveLocation=${d}/ctld`,
    `SlurmdSpoolDir=${d}/spool/%n`,
    `SlurmctldPidFile=${d}/run/slurmctld.pid`,
    `SlurmdPidFile=${d}/run/slurmd-%n.pid`,
    `SlurmctldLogFile=${d}/log/slurmctld.log`,
    `SlurmdLogFile=${d}/log/slurmd-%n.log`,
    "SlurmdParameters=config_overrides",
    "ProctrackType=proctrack/cgroup",
    "TaskPlugin=task/none",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "SchedulerType=sched/backfill",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_CPU",
    "MpiDefault=none",
    "ReturnToService=2",
    "KillWait=5",
    "SlurmdTimeout=6",
    "MessageTimeout=5",
    "InactiveLimit=0",
    "MinJobAge=600",
    ...plan.nodes.map((n) =>
      `NodeName=${n} NodeAddr=${
        nodeAddress(plan, n)
      } CPUs=${plan.cpusPerNode} State=UNKNOWN`
    ),
    `PartitionName=${plan.partition} Nodes=${
      nodeRange(plan)
    } Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO`,
  ];
  return lines.join("\n") + "\n";
}

/**
 * `cgroup.conf`: cgroup v1, nothing mounted or constrained by Slurm (the
 * node directories are prepared by `cluster up`).
 */
export function cgroupConf(): string {
  return [
    "# Generated by deno task cluster up; removed by deno task cluster down.",
    "CgroupPlugin=cgroup/v1",
    "CgroupAutomount=no",
    "ConstrainCores=no",
    "ConstrainRAMSpace=no",
    "ConstrainSwapSpace=no",
    "ConstrainDevices=no",
    "",
  ].join("\n");
}

/**
 * A node's `/etc/hosts` (bind-mounted in its mount namespace): itself, the
 * other nodes, the controller and the submitting host, all on the bridge.
 */
export function hostsFile(plan: ClusterPlan): string {
  return [
    "127.0.0.1 localhost",
    `${bridgeAddress(plan)} ${plan.rootHostname}`,
    `${controllerAddress(plan)} ${plan.controller}`,
    ...plan.nodes.map((n) => `${nodeAddress(plan, n)} ${n}`),
    "",
  ].join("\n");
}

/** Quote a word for /bin/sh. */
export function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * The cgroup directory of a node in a hierarchy, below `/sys/fs/cgroup`.
 *
 * @example
 * ```ts
 * import { clusterPlan, nodeCgroup } from "./cluster_config.ts";
 * console.log(nodeCgroup(clusterPlan({ rootHostname: "vm" }), "freezer", "node1"));
 * // "/sys/fs/cgroup/freezer/bootstorm-cluster/node1"
 * ```
 */
export function nodeCgroup(
  plan: ClusterPlan,
  hierarchy: string,
  node: string,
): string {
  return `/sys/fs/cgroup/${hierarchy}/${plan.cgroupParent}/${node}`;
}

/**
 * The `/bin/sh -c` script that starts a node's slurmd: it moves itself into
 * the node's cgroup directories, then `unshare`s mount, UTS and cgroup
 * namespaces, joins the node's network namespace with `nsenter --net`
 * (not `ip netns exec`, which remounts /sys and hides the cgroup
 * hierarchies), bind-mounts the node's cgroup directories over the
 * hierarchies and its hosts file over /etc/hosts, sets the hostname and
 * execs `slurmd -N <node>` (which daemonizes).
 */
export function nodeStartScript(plan: ClusterPlan, node: string): string {
  const q = shQuote;
  const join = plan.hierarchies.map((h) =>
    `echo $$ > ${q(nodeCgroup(plan, h, node))}/cgroup.procs`
  ).join(" && ");
  const inner = [
    ...plan.hierarchies.map((h) =>
      `mount --bind ${q(nodeCgroup(plan, h, node))} /sys/fs/cgroup/${h}`
    ),
    `mount --bind ${q(`${plan.dir}/etc/hosts`)} /etc/hosts`,
    `hostname ${node}`,
    `exec slurmd -N ${node} -f ${q(slurmConfPath(plan))} </dev/null >>${
      q(`${plan.dir}/log/slurmd-${node}.start.log`)
    } 2>&1`,
  ].join(" && ");
  return `${join} && exec unshare --mount --uts --cgroup --propagation private -- nsenter --net=/run/netns/${
    namespaceOf(node)
  } -- /bin/sh -c ${q(inner)}`;
}

/** The `/bin/sh -c` script that starts slurmctld in the controller's namespaces. */
export function controllerStartScript(plan: ClusterPlan): string {
  const q = shQuote;
  const inner = `hostname ${plan.controller} && exec slurmctld -f ${
    q(slurmConfPath(plan))
  } </dev/null >>${q(`${plan.dir}/log/slurmctld.start.log`)} 2>&1`;
  return `exec unshare --uts -- nsenter --net=/run/netns/${
    namespaceOf("ctl")
  } -- /bin/sh -c ${q(inner)}`;
}
