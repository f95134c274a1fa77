/**
 * `deno run -A cli/test_deps.ts`: install the Debian packages the tests
 * need (when permitted) and build the project's guest images.
 *
 * @module
 */
import { ensureDebianPackages, PROJECT_PACKAGES } from "../images/deps.ts";
import { ensureMinkernel } from "../images/build.ts";

await ensureDebianPackages([...PROJECT_PACKAGES], {
  why: "boot and build the test guests",
});
await ensureMinkernel();
