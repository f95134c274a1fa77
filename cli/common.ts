/**
 * What the analysis command-line entry points share: the dataset flags
 * (`--csv`, `--salvage`, `-h`) and how an error ends the process.
 *
 * @module
 */

/** parseArgs options every dataset-reading command takes. */
export const DATASET_FLAGS = {
  csv: { type: "boolean", default: false },
  salvage: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/**
 * Loader options from the dataset flags.
 *
 * @example
 * ```ts
 * import { datasetLoadOptions } from "./common.ts";
 * console.log(datasetLoadOptions({ csv: true, salvage: false })); // { salvage: false, prefer: "csv" }
 * ```
 */
export function datasetLoadOptions(
  values: { csv?: boolean; salvage?: boolean },
): { salvage: boolean | undefined; prefer: "csv" | "arrow" } {
  return { salvage: values.salvage, prefer: values.csv ? "csv" : "arrow" };
}

/** Run a CLI's `main`: exit with its code, or print an error's message and exit 1. */
export async function runCli(
  main: (args: string[]) => Promise<number>,
): Promise<void> {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof Error) {
      console.error(e.message);
      Deno.exit(1);
    }
    throw e;
  }
}
