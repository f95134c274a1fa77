/**
 * The accelerator: KVM when /dev/kvm is usable, TCG otherwise, and why.
 * "Usable" is decided by a probe: the minkernel boots under KVM on the
 * default machine, and not slower than under TCG (nested KVM can be 40×
 * slower than emulation through the firmware).
 *
 * @module
 */
import { monotonicMs } from "./clock.ts";
import { holdReaper, ownerEnv } from "./reaper.ts";

/** The accelerator chosen for a run. */
export interface Accelerator {
  /** KVM or TCG. */
  kind: "kvm" | "tcg";
  /** Arguments `${accel}` expands to. */
  args: string[];
  /** Why this one (forced, no /dev/kvm, probe numbers). */
  reason: string;
  /** The probe boot times that chose it (null when forced). */
  probe: { kvm_ms: number | null; tcg_ms: number | null } | null;
}

/** The argv of each accelerator (KVM as in the paper). */
export const ACCEL_ARGS: Record<"kvm" | "tcg", string[]> = {
  kvm: ["-enable-kvm", "-cpu", "host,+x2apic"],
  tcg: ["-accel", "tcg"],
};

/** Time one minkernel boot to "Hello" with an accelerator; null on failure. */
export async function probeBoot(
  qemu: string,
  kernel: string,
  accelArgs: string[],
  timeoutMs: number,
): Promise<number | null> {
  const release = await holdReaper();
  try {
    return await probeBootHeld(qemu, kernel, accelArgs, timeoutMs);
  } finally {
    await release();
  }
}

async function probeBootHeld(
  qemu: string,
  kernel: string,
  accelArgs: string[],
  timeoutMs: number,
): Promise<number | null> {
  const t = monotonicMs();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(qemu, {
      args: [
        ...accelArgs,
        "-nographic",
        "-m",
        "50",
        "-smp",
        "1",
        "-kernel",
        kernel,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      // Owned: the reaper kills it if the launcher dies during the probe.
      env: ownerEnv(),
    }).spawn();
  } catch {
    return null;
  }
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // it ended already (e.g. QEMU refused KVM): nothing to kill
    }
  };
  const timer = setTimeout(kill, timeoutMs);
  let result: number | null = null;
  let text = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stdout) {
    text += dec.decode(chunk, { stream: true });
    if (text.includes("Hello")) {
      result = monotonicMs() - t;
      kill();
      break;
    }
  }
  clearTimeout(timer);
  await child.stdout.cancel().catch(() => {});
  await child.status;
  return result;
}

function kvmOpens(): boolean {
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Choose the accelerator: `kvm` and `tcg` force one; `auto` probes.
 *
 * @example
 * ```ts
 * import { chooseAccelerator } from "./accel.ts";
 * const a = await chooseAccelerator("tcg");
 * console.log(a.args); // ["-accel", "tcg"]
 * ```
 */
export async function chooseAccelerator(
  choice: "auto" | "kvm" | "tcg",
  options: { qemu?: string; kernel?: string; probeTimeoutMs?: number } = {},
): Promise<Accelerator> {
  if (choice !== "auto") {
    return {
      kind: choice,
      args: ACCEL_ARGS[choice],
      reason: `forced with --accel ${choice}`,
      probe: null,
    };
  }
  if (!kvmOpens()) {
    return {
      kind: "tcg",
      args: ACCEL_ARGS.tcg,
      reason: "/dev/kvm absent or not writable",
      probe: null,
    };
  }
  if (!options.qemu || !options.kernel) {
    return {
      kind: "kvm",
      args: ACCEL_ARGS.kvm,
      reason: "/dev/kvm opens (not probed)",
      probe: null,
    };
  }
  const timeout = options.probeTimeoutMs ?? 10000;
  const tcg = await probeBoot(
    options.qemu,
    options.kernel,
    ACCEL_ARGS.tcg,
    timeout,
  );
  // KVM is chosen only when not slower than 2 × TCG: waiting longer for it
  // decides nothing (nested KVM may never boot the firmware at all).
  const kvmTimeout = tcg !== null
    ? Math.min(timeout, Math.ceil(2 * tcg) + 1)
    : timeout;
  const kvm = await probeBoot(
    options.qemu,
    options.kernel,
    ACCEL_ARGS.kvm,
    kvmTimeout,
  );
  const probe = { kvm_ms: kvm, tcg_ms: tcg };
  const f = (
    x: number | null,
    limit: number,
  ) => (x === null ? `no boot within ${limit} ms` : `${x.toFixed(0)} ms`);
  if (kvm !== null && (tcg === null || kvm <= 2 * tcg)) {
    return {
      kind: "kvm",
      args: ACCEL_ARGS.kvm,
      reason: `probe boot: KVM ${f(kvm, kvmTimeout)}, TCG ${f(tcg, timeout)}`,
      probe,
    };
  }
  return {
    kind: "tcg",
    args: ACCEL_ARGS.tcg,
    reason:
      `/dev/kvm opens but KVM is not usable for measurement: probe boot KVM ${
        f(kvm, kvmTimeout)
      } vs TCG ${f(tcg, timeout)} (nested virtualisation?)`,
    probe,
  };
}
