/**
 * Check that QEMU loads the boot-work plugin and that it counts, before a
 * batch starts: one minkernel boot on microvm (no firmware output), the
 * plugin's counters read at "Hello". A QEMU without plugin support, a plugin
 * built against another QEMU's header, or a plugin that does not count give
 * an `InsnsError` naming the fix; nothing has been launched yet.
 *
 * @module
 */
import { InsnsError, pluginLoadError } from "./build.ts";
import { type InsnsCounters, InsnsSlots } from "./slots.ts";

/** What the self-test measured. */
export interface InsnsSelfTest {
  /** Instructions to "Hello", qboot included. */
  total: number;
  /** The minkernel's own instructions to "Hello". */
  guest: number;
}

const memo = new Map<string, Promise<InsnsSelfTest>>();

/**
 * Boot the minkernel once with the plugin loaded and read its counters.
 * Memoised per QEMU binary and plugin.
 *
 * @example
 * ```ts ignore
 * // needs QEMU with plugin support, the built plugin (ensureInsnsPlugin) and the minkernel image
 * const t = await selfTestPlugin("qemu-system-x86_64", plugin.path, { kernel: "build/minkernel/minkernel.elf", api: 1 });
 * console.log(t.guest); // about 10
 * ```
 */
export function selfTestPlugin(
  qemu: string,
  plugin: string,
  options: {
    kernel: string;
    api: number;
    headerFrom?: string;
    timeoutMs?: number;
  },
): Promise<InsnsSelfTest> {
  const key = `${qemu}\n${plugin}\n${options.kernel}`;
  let p = memo.get(key);
  if (!p) {
    p = run(qemu, plugin, options);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

async function run(
  qemu: string,
  plugin: string,
  options: {
    kernel: string;
    api: number;
    headerFrom?: string;
    timeoutMs?: number;
  },
): Promise<InsnsSelfTest> {
  const slots = InsnsSlots.create(1);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(qemu, {
      args: [
        "-accel",
        "tcg",
        "-M",
        "microvm",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-m",
        "50",
        "-smp",
        "1",
        "-kernel",
        options.kernel,
        "-plugin",
        slots.pluginArg(plugin, 0),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    slots.close();
    throw new InsnsError(
      `Cannot use --insns: cannot start ${qemu}: ${(e as Error).message}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 20000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let text = "";
  let counters: InsnsCounters | null = null;
  const dec = new TextDecoder();
  const errText = new Response(child.stderr).text();
  try {
    for await (const chunk of child.stdout) {
      text += dec.decode(chunk, { stream: true });
      if (text.includes("Hello")) {
        counters = slots.read(0);
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    await child.stdout.cancel().catch(() => {});
    await child.status;
    slots.close();
  }
  const stderr = await errText.catch(() => "");
  const known = pluginLoadError(stderr, {
    api: options.api,
    qemu,
    headerFrom: options.headerFrom,
  });
  if (known) throw new InsnsError(known);
  if (!text.includes("Hello")) {
    throw new InsnsError(
      `Cannot use --insns: the self-test boot of the minkernel with the plugin printed no "Hello" within ${timeoutMs} ms${
        stderr.trim() ? ` (QEMU: ${stderr.trim().split("\n")[0]})` : ""
      }; run \`deno task build-images\` and try again`,
    );
  }
  if (!counters || counters.total === 0) {
    throw new InsnsError(
      `Cannot use --insns: QEMU booted with the plugin but its counters stayed empty; remove build/insns/ and run again`,
    );
  }
  return { total: counters.total, guest: counters.guest };
}
