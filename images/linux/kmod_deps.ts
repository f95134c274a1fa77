/**
 * Kernel-module dependencies without `depmod`/`modinfo`: read the
 * `depends=` string a `.ko` file carries in its `.modinfo` section and order
 * a set of modules so each comes after the modules it needs (the order
 * `insmod` must load them in). Pure.
 *
 * @module
 */

const decoder = new TextDecoder();

/**
 * The module names a `.ko` file depends on (its `depends=` modinfo string).
 *
 * @example
 * ```ts
 * import { readModuleDepends } from "./kmod_deps.ts";
 * // The .modinfo section of a .ko file holds NUL-separated key=value strings, e.g. virtio_net.ko:
 * const ko = new TextEncoder().encode("\0license=GPL\0depends=virtio_ring,virtio,net-failover\0intree=Y\0");
 * console.log(readModuleDepends(ko)); // ["virtio_ring", "virtio", "net_failover"]
 * ```
 */
export function readModuleDepends(ko: Uint8Array): string[] {
  const needle = new TextEncoder().encode("\0depends=");
  outer: for (let i = 0; i + needle.length <= ko.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (ko[i + j] !== needle[j]) continue outer;
    }
    const start = i + needle.length;
    let end = start;
    while (end < ko.length && ko[end] !== 0) end++;
    const value = decoder.decode(ko.subarray(start, end));
    return value === ""
      ? []
      : value.split(",").map((s) => s.replaceAll("-", "_"));
  }
  return [];
}

/**
 * Order modules so every module follows its dependencies, starting from
 * `wanted` and pulling in what `dependsOf` says each needs. Ties keep a
 * stable, name-sorted order so the result is reproducible.
 *
 * @example
 * ```ts
 * import { moduleLoadOrder } from "./kmod_deps.ts";
 * const deps: Record<string, string[]> = { virtio_net: ["virtio_ring", "net_failover"], net_failover: ["failover"], failover: [], virtio_ring: [] };
 * console.log(moduleLoadOrder(["virtio_net"], (m) => deps[m])); // ["failover", "net_failover", "virtio_ring", "virtio_net"]
 * ```
 */
export function moduleLoadOrder(
  wanted: readonly string[],
  dependsOf: (name: string) => readonly string[],
): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]) => {
    const s = state.get(name);
    if (s === "done") return;
    if (s === "visiting") {
      throw new Error(
        `Cannot order kernel modules: dependency cycle ${
          [...chain, name].join(" -> ")
        }`,
      );
    }
    state.set(name, "visiting");
    for (const dep of [...dependsOf(name)].sort()) visit(dep, [...chain, name]);
    state.set(name, "done");
    order.push(name);
  };
  for (const name of [...wanted].sort()) visit(name, []);
  return order;
}
