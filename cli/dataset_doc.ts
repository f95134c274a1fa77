/**
 * `deno task dataset-doc`: regenerate docs/dataset.md from the dataset
 * contract (dataset/schema.ts, through dataset/doc.ts).
 *
 * @module
 */
import { datasetDoc } from "../dataset/doc.ts";

if (import.meta.main) {
  const path = new URL("../docs/dataset.md", import.meta.url).pathname;
  await Deno.mkdir(new URL("../docs/", import.meta.url).pathname, {
    recursive: true,
  });
  await Deno.writeTextFile(path, datasetDoc());
  console.log(`wrote ${path}`);
}
