/**
 * `deno task notebooks [NOTEBOOK.ipynb...]`: execute the notebooks headless
 * with the Deno Jupyter kernel and save their outputs.
 *
 * 1. checks Debian's Jupyter (`/usr/bin/python3` with jupyter_client and
 *    nbformat);
 * 2. installs a kernelspec `bootstorm-deno` pointing at the deno running
 *    this script (`Deno.execPath()`, e.g. the one `npx -y deno@2.9.6`
 *    fetched), so the kernel always exists where the notebooks run;
 * 3. builds the minkernel guest when missing (notebook 02 boots it);
 * 4. runs notebooks/execute.py, which executes every cell, keeps listening
 *    2 s after the kernel reports idle, writes the outputs into the .ipynb
 *    and fails when a cell fails.
 *
 * The data the notebooks read: `$BOOTSTORM_DATA` (a run or sweep folder),
 * else the newest folder of data/sweeps/, else of data/runs/.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureMinkernel } from "../images/build.ts";
import { toolError, tryTool } from "../images/tool.ts";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "..", "notebooks");
const KERNEL = "bootstorm-deno";
const APT =
  "apt-get install -y jupyter-notebook jupyter-nbconvert python3-ipykernel jupyter-client";

const USAGE = `Usage: deno task notebooks [NOTEBOOK.ipynb...] [options]

Executes the notebooks (default: every notebooks/*.ipynb) with the Deno
kernel and writes their outputs back. Fails when a cell fails.

Options:
  --python PATH    Python with jupyter_client (default /usr/bin/python3, Debian's)
  --timeout S      seconds per cell (default 900)
  --settle S       seconds to keep listening after the kernel reports idle (default 2)
  -h, --help       this text

Data: $BOOTSTORM_DATA, else the newest data/sweeps/*, else data/runs/*.`;

async function run(
  cmd: string,
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  const o = await tryTool(cmd, args);
  if (o.startError !== null) return { ok: false, out: o.startError };
  const text = o.stdout + o.stderr;
  return { ok: o.ok, out: text.trim() };
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      python: { type: "string", default: "/usr/bin/python3" },
      timeout: { type: "string", default: "900" },
      settle: { type: "string", default: "2" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const python = values.python;
  const probe = await run(python, [
    "-c",
    "import jupyter_client, nbformat; print(jupyter_client.__version__)",
  ]);
  if (!probe.ok) {
    console.error(
      `Cannot run notebooks: ${python} has no jupyter_client/nbformat (${
        probe.out.split("\n").pop()
      }). ` +
        `Install Debian's Jupyter: ${APT}`,
    );
    return 2;
  }
  const deno = Deno.execPath();
  const install = await run(deno, [
    "jupyter",
    "--install",
    "--force",
    "--name",
    KERNEL,
    "--display",
    "Deno (bootstorm)",
  ]);
  if (!install.ok) {
    console.error(
      `Cannot install the Deno Jupyter kernel with ${deno}: ${install.out}`,
    );
    return 2;
  }
  const spec = await run(python, [
    "-c",
    `from jupyter_client.kernelspec import KernelSpecManager as K; print(K().get_kernel_spec("${KERNEL}").argv[0])`,
  ]);
  const real = (p: string) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return p;
    }
  };
  // Compare real paths: npx may install the kernel through its .bin/deno link.
  if (!spec.ok || real(spec.out.split("\n").pop() ?? "") !== real(deno)) {
    console.error(
      `Cannot use the kernel "${KERNEL}": Jupyter does not see it pointing at ${deno} (${spec.out}). ` +
        "Check JUPYTER_PATH / JUPYTER_DATA_DIR.",
    );
    return 2;
  }
  console.error(`notebooks: kernel ${KERNEL} → ${deno}`);
  await ensureMinkernel();
  let notebooks = positionals.map((p) => resolve(p));
  if (notebooks.length === 0) {
    for await (const e of Deno.readDir(HERE)) {
      if (e.isFile && e.name.endsWith(".ipynb")) {
        notebooks.push(join(HERE, e.name));
      }
    }
    notebooks = notebooks.sort();
  }
  if (notebooks.length === 0) {
    console.error(`Cannot run notebooks: no .ipynb file in ${HERE}`);
    return 2;
  }
  const execArgs = [
    join(HERE, "execute.py"),
    "--kernel",
    KERNEL,
    "--timeout",
    values.timeout,
    "--settle",
    values.settle,
    ...notebooks,
  ];
  const r = await tryTool(python, execArgs, {
    env: { NO_COLOR: "1" },
    inherit: true,
  });
  if (r.startError !== null) {
    console.error(
      toolError(
        "run notebooks",
        python,
        execArgs,
        r,
        "Install Debian's jupyter-client (apt-get install -y python3-jupyter-client) or pass --python PATH.",
      ).message,
    );
    return 2;
  }
  return r.code ?? 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
