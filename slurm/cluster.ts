/**
 * The local N-node Slurm test cluster on one machine: `clusterUp` brings it
 * up from Debian's packages (idempotently, saying what it installs and
 * starts), `clusterDown` leaves no daemon, namespace, bridge, cgroup or
 * config file behind, `clusterStatus` reports it, `crashNode` kills every
 * process of one node at once (a host that dies). For tests and trying
 * things out; on a real cluster none of this is needed.
 *
 * Each node runs its own `slurmd -N nodeK` in its own network, UTS, mount
 * and cgroup namespaces; `slurmctld` runs in a namespace of its own; one
 * `munged` in the root namespace serves all (its socket is a file). The
 * nodes' cgroup directories are made in every v1 hierarchy Slurm's
 * proctrack/cgroup may use, except `memory`, whose directory belongs to
 * whoever runs the command (left alone).
 *
 * @module
 */
import { execa } from "execa";
import { ensureDebianPackages } from "../images/deps.ts";
import {
  bridgeAddress,
  cgroupConf,
  CLUSTER_DIR,
  type ClusterPlan,
  clusterPlan,
  controllerAddress,
  controllerStartScript,
  hostsFile,
  namespaceOf,
  nodeAddress,
  nodeCgroup,
  nodeRange,
  nodeStartScript,
  slurmConf,
  slurmConfPath,
  vethOf,
} from "./cluster_config.ts";

/** Debian packages of the local cluster. */
export const SLURM_PACKAGES: readonly string[] = [
  "slurmctld",
  "slurmd",
  "slurm-client",
  "munge",
];

/** What `cluster up` records in `<dir>/state.json`. */
interface ClusterState {
  plan: ClusterPlan;
  /** Pid of the munged this tool started (null: one was already running). */
  mungedPid: number | null;
  created_at: string;
}

/** Options of {@link clusterUp}. */
export interface ClusterUpOptions {
  /** Nodes (default: as many as the running cluster has, else 3). */
  nodes?: number;
  /** First three octets of the private /24 (default `10.213.61`). */
  subnet?: string;
  /** The cluster's folder (default `/run/bootstorm-cluster`). */
  dir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Give up waiting for the nodes after this long, ms (default 60000). */
  timeoutMs?: number;
}

/** A running cluster, as `clusterUp` and `clusterStatus` report it. */
export interface ClusterInfo {
  /** Its names, addresses and folders. */
  plan: ClusterPlan;
  /** `SLURM_CONF` value for Slurm's commands. */
  slurmConf: string;
  /** Environment to run Slurm's commands against this cluster. */
  env: Record<string, string>;
  /** Node states from `sinfo`, e.g. `{ node1: "idle" }`. */
  nodeStates: Record<string, string>;
}

const defaultLog = (line: string) => console.error(`cluster: ${line}`);

async function sh(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await execa(cmd, args, {
    reject: false,
    env: options.env,
    input: options.input,
    stdin: options.input === undefined ? "ignore" : undefined,
  });
  return {
    ok: r.exitCode === 0,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
}

async function must(
  cmd: string,
  args: string[],
  what: string,
): Promise<string> {
  const r = await sh(cmd, args);
  if (!r.ok) {
    throw new Error(
      `Cannot ${what}: ${cmd} ${args.join(" ")} failed: ${
        r.stderr.trim() || r.stdout.trim() || "no output"
      }`,
    );
  }
  return r.stdout;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** Whether `pid` is a live (not zombie) process named `comm`. */
function aliveAs(pid: number, comm: string): boolean {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return false;
  const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
  const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
  return state !== "Z" && name === comm.slice(0, 15);
}

function pidFrom(path: string): number | null {
  const t = readText(path)?.trim();
  return t && /^\d+$/.test(t) ? Number(t) : null;
}

function readState(dir: string): ClusterState | null {
  const t = readText(`${dir}/state.json`);
  if (!t) return null;
  try {
    return JSON.parse(t) as ClusterState;
  } catch {
    return null;
  }
}

async function linkExists(name: string): Promise<boolean> {
  return (await sh("ip", ["link", "show", name])).ok;
}

async function namespaces(): Promise<string[]> {
  const r = await sh("ip", ["netns", "list"]);
  return r.stdout.split("\n").map((l) => l.split(" ")[0]).filter(Boolean);
}

async function namespacePids(ns: string): Promise<number[]> {
  const r = await sh("ip", ["netns", "pids", ns]);
  return r.stdout.split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
}

function disableIpv6(path: string): void {
  try {
    Deno.writeTextFileSync(path, "1");
  } catch {
    // no IPv6 on this kernel: nothing to turn off
  }
}

async function munged(log: (l: string) => void): Promise<number | null> {
  const r = await sh("pidof", ["munged"]);
  if (r.ok) {
    log(`munged already running (pid ${r.stdout.trim()}): using it`);
    return null;
  }
  Deno.mkdirSync("/run/munge", { recursive: true });
  await must("chown", ["munge:munge", "/run/munge"], "prepare /run/munge");
  log("starting munged (runuser -u munge -- munged)");
  await must("runuser", ["-u", "munge", "--", "munged"], "start munged");
  for (let i = 0; i < 100; i++) {
    const p = await sh("pidof", ["munged"]);
    if (p.ok) return Number(p.stdout.trim().split(/\s+/)[0]);
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(
    "Cannot start munged: it exited at once; see /var/log/munge/munged.log",
  );
}

async function network(plan: ClusterPlan, log: (l: string) => void) {
  const br = plan.bridge;
  if (!(await linkExists(br))) {
    const routes = await sh("ip", ["-4", "route", "show"]);
    const clash = routes.stdout.split("\n").find((l) =>
      l.startsWith(`${plan.subnet}.`)
    );
    if (clash) {
      throw new Error(
        `Cannot use subnet ${plan.subnet}.0/24 for the cluster's bridge: this machine already routes it (${clash.trim()}); pick another with --subnet, e.g. --subnet 10.213.62`,
      );
    }
    log(
      `creating bridge ${br} with ${
        bridgeAddress(plan)
      }/24 (private, only on this bridge; no forwarding)`,
    );
    await must(
      "ip",
      ["link", "add", br, "type", "bridge"],
      "create the bridge",
    );
    disableIpv6(`/proc/sys/net/ipv6/conf/${br}/disable_ipv6`);
    await must(
      "ip",
      ["addr", "add", `${bridgeAddress(plan)}/24`, "dev", br],
      "address the bridge",
    );
  }
  await must("ip", ["link", "set", br, "up"], "bring the bridge up");
  const have = await namespaces();
  const members: [string, string][] = [
    ["ctl", controllerAddress(plan)],
    ...plan.nodes.map((n): [string, string] => [n, nodeAddress(plan, n)]),
  ];
  for (const [name, addr] of members) {
    const ns = namespaceOf(name);
    const veth = vethOf(name);
    if (!have.includes(ns)) {
      log(`creating network namespace ${ns} (${addr}/24, no default route)`);
      await must("ip", ["netns", "add", ns], `create namespace ${ns}`);
    }
    if (!(await linkExists(veth))) {
      await must(
        "ip",
        [
          "link",
          "add",
          veth,
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          ns,
        ],
        `create the link of ${ns}`,
      );
      disableIpv6(`/proc/sys/net/ipv6/conf/${veth}/disable_ipv6`);
      await must(
        "ip",
        ["link", "set", veth, "master", br, "up"],
        `attach ${veth} to ${br}`,
      );
      const inNs = ["nsenter", `--net=/run/netns/${ns}`, "--"];
      await sh(inNs[0], [
        ...inNs.slice(1),
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
      ]);
      await must(
        "ip",
        ["-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0"],
        `address ${ns}`,
      );
      await must("ip", ["-n", ns, "link", "set", "eth0", "up"], `up ${ns}`);
      await must("ip", ["-n", ns, "link", "set", "lo", "up"], `up lo in ${ns}`);
    }
  }
}

/**
 * Real-time budget of the cluster's cpu cgroups (cgroup v1 with
 * RT_GROUP_SCHED): a new group gets cpu.rt_runtime_us = 0, which makes
 * sched_setscheduler(SCHED_FIFO) fail inside it, so the launcher's
 * real-time sampler and release threads would run at normal priority on a
 * node. The parent gets most of the root's budget, each node an equal share.
 */
function rtBudget(root: string, parent: string, nodes: string[]): void {
  const rootRt = Number(readText(`${root}/cpu.rt_runtime_us`) ?? "NaN");
  if (!(rootRt > 0)) return; // no RT group scheduling: nothing to give
  const total = Math.floor(rootRt * 0.9);
  const each = Math.floor(total / nodes.length);
  // Lower the children first when shrinking, raise the parent first when growing.
  for (const d of nodes) {
    try {
      Deno.writeTextFileSync(`${d}/cpu.rt_runtime_us`, "0");
    } catch { /* new */ }
  }
  Deno.writeTextFileSync(`${parent}/cpu.rt_runtime_us`, String(total));
  for (const d of nodes) {
    Deno.writeTextFileSync(`${d}/cpu.rt_runtime_us`, String(each));
  }
}

function cgroups(plan: ClusterPlan): void {
  for (const h of plan.hierarchies) {
    const root = `/sys/fs/cgroup/${h}`;
    const parent = `${root}/${plan.cgroupParent}`;
    Deno.mkdirSync(parent, { recursive: true });
    if (h === "cpuset") {
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        Deno.writeTextFileSync(`${parent}/${f}`, readText(`${root}/${f}`)!);
      }
    }
    for (const n of plan.nodes) {
      const d = nodeCgroup(plan, h, n);
      Deno.mkdirSync(d, { recursive: true });
      if (h === "cpuset") {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          Deno.writeTextFileSync(`${d}/${f}`, readText(`${parent}/${f}`)!);
        }
      }
    }
    if (h === "cpu") {
      rtBudget(root, parent, plan.nodes.map((n) => nodeCgroup(plan, h, n)));
    }
  }
}

async function startDaemon(
  what: string,
  script: string,
  pidFile: string,
  comm: string,
  logFile: string,
  log: (l: string) => void,
): Promise<void> {
  const pid = pidFrom(pidFile);
  if (pid !== null && aliveAs(pid, comm)) {
    log(`${what} already running (pid ${pid})`);
    return;
  }
  log(`starting ${what}`);
  const r = await sh("/bin/sh", ["-c", script]);
  if (!r.ok) {
    throw new Error(
      `Cannot start ${what}: ${
        r.stderr.trim() || "the start script failed"
      }; see ${logFile}`,
    );
  }
  for (let i = 0; i < 200; i++) {
    const p = pidFrom(pidFile);
    if (p !== null && aliveAs(p, comm)) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  const tail = (readText(logFile) ?? "").trim().split("\n").slice(-3).join(
    " | ",
  );
  throw new Error(
    `Cannot start ${what}: no live ${comm} after 5 s (${
      tail || "no log"
    }); see ${logFile}`,
  );
}

/** Environment for Slurm's commands against the cluster in `dir`. */
export function clusterEnv(plan: ClusterPlan): Record<string, string> {
  return { SLURM_CONF: slurmConfPath(plan) };
}

async function nodeStates(
  plan: ClusterPlan,
): Promise<Record<string, string>> {
  const r = await sh("sinfo", ["-h", "-N", "-o", "%N %T"], {
    env: clusterEnv(plan),
  });
  const out: Record<string, string> = {};
  for (const l of r.stdout.trim().split("\n")) {
    const [n, s] = l.trim().split(/\s+/);
    if (n) out[n] = s;
  }
  return out;
}

/**
 * Bring up (or complete) the local cluster: install Slurm and munge from
 * Debian when missing, start munged, the bridge and namespaces, slurmctld
 * and one slurmd per node, and wait until every node is idle.
 *
 * @example
 * ```ts ignore
 * // needs root; installs slurm-wlm and munge, creates network namespaces
 * const { env } = await clusterUp({ nodes: 3 });
 * // env.SLURM_CONF points Slurm's commands at the cluster
 * ```
 */
export async function clusterUp(
  options: ClusterUpOptions = {},
): Promise<ClusterInfo> {
  const log = options.log ?? defaultLog;
  if (Deno.uid() !== 0) {
    throw new Error(
      "Cannot start the local cluster: it needs root (network namespaces, a bridge, cgroups); run as root (e.g. sudo deno task cluster up)",
    );
  }
  const dir = options.dir ?? CLUSTER_DIR;
  const old = readState(dir);
  const wanted = options.nodes ?? old?.plan.nodes.length ?? 3;
  if (old && old.plan.nodes.length !== wanted) {
    throw new Error(
      `Cannot bring up ${wanted} nodes: a ${old.plan.nodes.length}-node cluster is up in ${dir}; run deno task cluster down first`,
    );
  }
  await ensureDebianPackages([...SLURM_PACKAGES], {
    why: "run the local Slurm test cluster",
  });
  const plan = old?.plan ?? clusterPlan({
    nodes: wanted,
    subnet: options.subnet,
    dir,
    cpusPerNode: navigator.hardwareConcurrency,
    rootHostname: Deno.hostname(),
  });
  for (
    const sub of [
      "etc",
      "ctld",
      "run",
      "log",
      ...plan.nodes.map((n) => `spool/${n}`),
    ]
  ) {
    Deno.mkdirSync(`${dir}/${sub}`, { recursive: true });
  }
  Deno.writeTextFileSync(slurmConfPath(plan), slurmConf(plan));
  Deno.writeTextFileSync(`${dir}/etc/cgroup.conf`, cgroupConf());
  Deno.writeTextFileSync(`${dir}/etc/hosts`, hostsFile(plan));
  // munged: reuse a running one; start (and own) one otherwise.
  let mungedPid = old?.mungedPid ?? null;
  const running = (await sh("pidof", ["munged"])).ok;
  if (!running) mungedPid = await munged(log);
  else if (!old) mungedPid = await munged(log); // says "already running", returns null
  const state: ClusterState = {
    plan,
    mungedPid,
    created_at: old?.created_at ?? new Date().toISOString(),
  };
  Deno.writeTextFileSync(`${dir}/state.json`, JSON.stringify(state, null, 2));
  await network(plan, log);
  cgroups(plan);
  await startDaemon(
    `slurmctld in ${namespaceOf("ctl")} (${controllerAddress(plan)})`,
    controllerStartScript(plan),
    `${dir}/run/slurmctld.pid`,
    "slurmctld",
    `${dir}/log/slurmctld.log`,
    log,
  );
  for (const n of plan.nodes) {
    await startDaemon(
      `slurmd -N ${n} in ${namespaceOf(n)} (${nodeAddress(plan, n)})`,
      nodeStartScript(plan, n),
      `${dir}/run/slurmd-${n}.pid`,
      "slurmd",
      `${dir}/log/slurmd-${n}.log`,
      log,
    );
  }
  const env = clusterEnv(plan);
  const deadline = Date.now() + (options.timeoutMs ?? 60000);
  let states: Record<string, string> = {};
  let resumed = false;
  while (Date.now() < deadline) {
    states = await nodeStates(plan);
    const bad = plan.nodes.filter((n) =>
      !/^(idle|mixed|allocated)/.test(states[n] ?? "")
    );
    if (bad.length === 0) break;
    const down = bad.filter((n) => /^(down|drain)/.test(states[n] ?? ""));
    if (down.length && !resumed) {
      log(
        `resuming ${down.join(",")} (was ${
          down.map((n) => states[n]).join(",")
        })`,
      );
      await sh("scontrol", [
        "update",
        `nodename=${down.join(",")}`,
        "state=resume",
      ], { env });
      resumed = true;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  const bad = plan.nodes.filter((n) =>
    !/^(idle|mixed|allocated)/.test(states[n] ?? "")
  );
  if (bad.length) {
    throw new Error(
      `Cannot bring the cluster up: ${
        bad.map((n) => `${n} is ${states[n] ?? "unknown to slurmctld"}`).join(
          ", ",
        )
      } after ${
        Math.round((options.timeoutMs ?? 60000) / 1000)
      } s; see ${dir}/log/`,
    );
  }
  log(
    `up: ${
      nodeRange(plan)
    } idle in partition ${plan.partition}; Slurm's commands need SLURM_CONF=${
      slurmConfPath(plan)
    }`,
  );
  return { plan, slurmConf: slurmConfPath(plan), env, nodeStates: states };
}

/**
 * The local cluster when one is up (its state file exists), else null.
 *
 * @example
 * ```ts ignore
 * // needs a local cluster (deno task cluster up)
 * const info = await clusterStatus();
 * console.log(info?.nodeStates); // { node1: "idle", … }
 * ```
 */
export async function clusterStatus(
  options: { dir?: string } = {},
): Promise<ClusterInfo | null> {
  const state = readState(options.dir ?? CLUSTER_DIR);
  if (!state) return null;
  return {
    plan: state.plan,
    slurmConf: slurmConfPath(state.plan),
    env: clusterEnv(state.plan),
    nodeStates: await nodeStates(state.plan),
  };
}

/** The local cluster's plan when its state file exists (no I/O beyond reading it). */
export function localClusterPlan(
  dir: string = CLUSTER_DIR,
): ClusterPlan | null {
  return readState(dir)?.plan ?? null;
}

function cgroupPids(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    const procs = readText(`${d}/cgroup.procs`);
    if (procs) {
      out.push(...procs.split("\n").filter(Boolean).map(Number));
    }
    try {
      for (const e of Deno.readDirSync(d)) {
        if (e.isDirectory) walk(`${d}/${e.name}`);
      }
    } catch {
      // gone
    }
  };
  walk(dir);
  return out;
}

function killAll(pids: number[], signal: Deno.Signal): void {
  for (const p of pids) {
    try {
      Deno.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

/** Every process of a node: those in its network namespace or its cgroups. */
async function nodePids(plan: ClusterPlan, node: string): Promise<number[]> {
  const pids = new Set(await namespacePids(namespaceOf(node)));
  for (const h of plan.hierarchies) {
    for (const p of cgroupPids(nodeCgroup(plan, h, node))) pids.add(p);
  }
  return [...pids];
}

/**
 * A host that dies: SIGKILL every process of `node` at once (slurmd, the
 * job's slurmstepd, the launcher and its guests). `clusterUp` brings the
 * node back.
 *
 * @example
 * ```ts ignore
 * // needs root and a local cluster (deno task cluster up)
 * const killed = await crashNode("node2");
 * ```
 */
export async function crashNode(
  node: string,
  options: { dir?: string } = {},
): Promise<number[]> {
  const plan = localClusterPlan(options.dir);
  if (!plan || !plan.nodes.includes(node)) {
    throw new Error(
      `Cannot crash ${node}: no such node in the local cluster (${
        plan ? plan.nodes.join(", ") : "no cluster is up"
      })`,
    );
  }
  const pids = await nodePids(plan, node);
  killAll(pids, "SIGKILL");
  return pids;
}

/** What `clusterDown` found still present afterwards (empty when clean). */
export interface Leftovers {
  /** Pids still alive in its namespaces or cgroups. */
  processes: number[];
  /** Network namespaces still there. */
  namespaces: string[];
  /** Links (bridge, veths) still there. */
  links: string[];
  /** cgroup directories still there. */
  cgroups: string[];
  /** Its folder, when still there. */
  files: string[];
}

/**
 * Everything of the local cluster still present: processes in its
 * namespaces or cgroups, namespaces, links, cgroup directories, its folder.
 */
export async function clusterLeftovers(
  plan: ClusterPlan,
): Promise<Leftovers> {
  const processes: number[] = [];
  for (const n of plan.nodes) processes.push(...(await nodePids(plan, n)));
  processes.push(...(await namespacePids(namespaceOf("ctl"))));
  const alive = processes.filter((p) => {
    const s = readText(`/proc/${p}/stat`);
    return s !== null && s.slice(s.lastIndexOf(")") + 2)[0] !== "Z";
  });
  const ns = (await namespaces()).filter((n) =>
    [namespaceOf("ctl"), ...plan.nodes.map(namespaceOf)].includes(n)
  );
  const links: string[] = [];
  for (const l of [plan.bridge, vethOf("ctl"), ...plan.nodes.map(vethOf)]) {
    if (await linkExists(l)) links.push(l);
  }
  const cg = plan.hierarchies.map((h) =>
    `/sys/fs/cgroup/${h}/${plan.cgroupParent}`
  ).filter((d) => readText(`${d}/cgroup.procs`) !== null);
  const files = readText(`${plan.dir}/state.json`) !== null ||
      (() => {
        try {
          Deno.statSync(plan.dir);
          return true;
        } catch {
          return false;
        }
      })()
    ? [plan.dir]
    : [];
  return { processes: alive, namespaces: ns, links, cgroups: cg, files };
}

function rmdirTree(d: string): void {
  try {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) rmdirTree(`${d}/${e.name}`);
    }
    Deno.removeSync(d);
  } catch {
    // gone, or still busy (reported as a leftover)
  }
}

/**
 * Tear the local cluster down: stop slurmd and slurmctld, kill whatever is
 * left in the namespaces and cgroups (jobs, guests), delete the
 * namespaces, links and bridge, remove the cgroup directories, stop munged
 * when this tool started it, remove the folder. Returns what is still
 * there (empty lists when clean).
 *
 * @example
 * ```ts ignore
 * // needs root; tears down the local cluster
 * const left = await clusterDown();
 * console.log(left.processes.length === 0); // true
 * ```
 */
export async function clusterDown(
  options: { dir?: string; log?: (line: string) => void } = {},
): Promise<Leftovers> {
  const log = options.log ?? defaultLog;
  const dir = options.dir ?? CLUSTER_DIR;
  const state = readState(dir);
  const plan = state?.plan ??
    clusterPlan({ nodes: 3, dir, rootHostname: Deno.hostname() });
  const daemons: number[] = [];
  for (const f of [...plan.nodes.map((n) => `slurmd-${n}`), "slurmctld"]) {
    const p = pidFrom(`${dir}/run/${f}.pid`);
    if (p !== null && (aliveAs(p, "slurmd") || aliveAs(p, "slurmctld"))) {
      daemons.push(p);
    }
  }
  if (daemons.length) {
    log(`stopping slurmd and slurmctld (pids ${daemons.join(" ")})`);
  }
  killAll(daemons, "SIGTERM");
  for (
    let i = 0;
    i < 40 && daemons.some((p) => readText(`/proc/${p}/stat`));
    i++
  ) {
    await new Promise((res) => setTimeout(res, 50));
  }
  // Whatever is left in the namespaces and cgroups: jobs, guests, daemons.
  for (let round = 0; round < 20; round++) {
    const left = (await clusterLeftovers(plan)).processes;
    if (left.length === 0) break;
    if (round === 0) {
      log(
        `killing ${left.length} processes left in the cluster's namespaces and cgroups`,
      );
    }
    killAll(left, "SIGKILL");
    await new Promise((res) => setTimeout(res, 100));
  }
  for (const ns of [namespaceOf("ctl"), ...plan.nodes.map(namespaceOf)]) {
    if ((await namespaces()).includes(ns)) {
      await sh("ip", ["netns", "del", ns]);
    }
  }
  for (const l of [vethOf("ctl"), ...plan.nodes.map(vethOf), plan.bridge]) {
    if (await linkExists(l)) await sh("ip", ["link", "del", l]);
  }
  log(`removed namespaces, links and bridge ${plan.bridge}`);
  for (const h of plan.hierarchies) {
    rmdirTree(`/sys/fs/cgroup/${h}/${plan.cgroupParent}`);
  }
  if (state?.mungedPid && aliveAs(state.mungedPid, "munged")) {
    log(`stopping munged (pid ${state.mungedPid}, started by cluster up)`);
    killAll([state.mungedPid], "SIGTERM");
    for (let i = 0; i < 40 && aliveAs(state.mungedPid, "munged"); i++) {
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // already gone
  }
  const left = await clusterLeftovers(plan);
  const n = left.processes.length + left.namespaces.length + left.links.length +
    left.cgroups.length + left.files.length;
  log(
    n === 0
      ? "down: nothing left behind"
      : `down: left behind ${JSON.stringify(left)}`,
  );
  return left;
}
