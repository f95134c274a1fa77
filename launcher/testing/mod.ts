/**
 * Test doubles of the launcher: a fake clock ({@link FakeClock}, given to
 * `launch()` as `clock`) and a fake process runner ({@link fakeRunner},
 * given as `runner`) that plays scripted output and exits at fake times.
 * Together they drive `launch()` through every outcome in milliseconds,
 * without a process or a real sleep (use `spawnMode: "direct"`,
 * `sampleIntervalMs: 0` and `reaper: false`).
 *
 * @example
 * ```ts
 * import { launch } from "../launch.ts";
 * import { parseProfile } from "../profile.ts";
 * import { FakeClock, fakeRunner } from "./mod.ts";
 * const clock = new FakeClock();
 * const runner = fakeRunner(clock, { script: () => ({ exitAt: 7, code: 2 }) });
 * const profile = parseProfile({ name: "t", argv: ["guest"], ready: { line: "ok" } });
 * const res = await clock.run(launch(profile, {
 *   count: 1, pattern: { kind: "back-to-back" }, argv: profile.argv,
 *   runner, clock, spawnMode: "direct", sampleIntervalMs: 0, reaper: false,
 * }));
 * console.log(res.rows[0].outcome, res.rows[0].exit_code); // "exited_before_ready" 2
 * ```
 *
 * @module
 */
export { FakeClock } from "./fake_clock.ts";
export {
  FAKE_PID_BASE,
  type FakeRunner,
  fakeRunner,
  type FakeScript,
  type FakeSpawn,
} from "./fake_runner.ts";
