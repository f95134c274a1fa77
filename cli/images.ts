/**
 * `deno task images`: every profile, whether its image is present (size,
 * sha256) and how to get an absent one.
 *
 * @module
 */
import { relative } from "node:path";
import { IMAGES_HELP, imageStatuses } from "../images/list.ts";

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(IMAGES_HELP);
    Deno.exit(0);
  }
  if (args.length) {
    console.error(
      `error: unknown argument ${JSON.stringify(args[0])}\n${IMAGES_HELP}`,
    );
    Deno.exit(2);
  }
  const rows = await imageStatuses();
  const w = Math.max(...rows.map((r) => r.profile.length));
  for (const r of rows) {
    const where = r.image ? relative(Deno.cwd(), r.image) : "(no image)";
    console.log(
      `${r.profile.padEnd(w)}  ${(r.class ?? "-").padEnd(8)}  ${
        r.present
          ? `present  ${String(r.bytes).padStart(9)} B  sha256 ${r.sha256}`
          : "ABSENT"
      }  ${where}`,
    );
    if (!r.present && r.obtain) {
      console.log(`${" ".repeat(w)}  how to get it: ${r.obtain}`);
    }
  }
}
