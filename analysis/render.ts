/**
 * SVG → PNG for the figures: `@resvg/resvg-js` (a native addon, loaded on
 * first use) with the DejaVu Sans font from Debian's `fonts-dejavu-core`;
 * when the addon cannot load, `rsvg-convert` (Debian `librsvg2-bin`) is
 * used instead. Also reads a PNG's size from its IHDR chunk.
 *
 * @module
 */

import { existsSync } from "node:fs";

/** Where Debian's fonts-dejavu-core puts the fonts the figures use. */
export const DEJAVU_FONTS = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
] as const;

/** Options of {@link renderPng}. */
export interface RenderOptions {
  /** Pixels per SVG px (default 1: the PNG has the SVG's width and height). */
  scale?: number;
  /** Font files to load (default {@link DEJAVU_FONTS}, those that exist). */
  fontFiles?: string[];
  /** Renderer (default "auto": resvg, else rsvg-convert). */
  renderer?: "auto" | "resvg" | "rsvg-convert";
}

/**
 * The font files to render with: `fontFiles` when given, else the DejaVu
 * fonts that exist. Throws when none exists, naming the Debian package.
 *
 * @example
 * ```ts
 * import { figureFontFiles } from "./render.ts";
 * figureFontFiles(); // ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", …]
 * ```
 */
export function figureFontFiles(fontFiles?: string[]): string[] {
  const files = (fontFiles ?? [...DEJAVU_FONTS]).filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new Error(
      `Cannot render figure text: no font file found (looked for ${
        (fontFiles ?? DEJAVU_FONTS).join(", ")
      }). Install Debian's fonts-dejavu-core (apt-get install -y fonts-dejavu-core).`,
    );
  }
  return files;
}

/** Width and height of an SVG string from its root `width`/`height` attributes. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = svg.match(/<svg\b[^>]*>/)?.[0] ?? "";
  const w = Number(root.match(/\swidth="([\d.]+)"/)?.[1]);
  const h = Number(root.match(/\sheight="([\d.]+)"/)?.[1]);
  if (!(w > 0 && h > 0)) {
    throw new Error(
      "Cannot size the SVG: its root <svg> has no numeric width and height attributes. Draw it with the figure functions (they set both).",
    );
  }
  return { width: w, height: h };
}

type ResvgModule = typeof import("@resvg/resvg-js");
let resvg: Promise<ResvgModule | Error> | null = null;

function loadResvg(): Promise<ResvgModule | Error> {
  resvg ??= import("@resvg/resvg-js").then(
    (m) => m as ResvgModule,
    (e) => e instanceof Error ? e : new Error(String(e)),
  );
  return resvg;
}

async function withRsvgConvert(
  svg: string,
  scale: number,
): Promise<Uint8Array> {
  const { width } = svgSize(svg);
  let child;
  try {
    child = new Deno.Command("rsvg-convert", {
      args: [
        "--format=png",
        `--width=${Math.round(width * scale)}`,
        "--keep-aspect-ratio",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(
      `Cannot render PNG: @resvg/resvg-js did not load and rsvg-convert cannot run (${
        (e as Error).message
      }). Install Debian's librsvg2-bin (apt-get install -y librsvg2-bin).`,
    );
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(svg));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(
      `Cannot render PNG with rsvg-convert: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return out.stdout;
}

/**
 * Render an SVG string (as the figure functions return it) to PNG bytes,
 * `scale` × its size, with DejaVu Sans for text. Uses resvg; falls back to
 * `rsvg-convert` when the resvg addon cannot load (or with
 * `renderer: "rsvg-convert"`).
 *
 * @example
 * ```ts ignore
 * await Deno.writeFile("ecdf.png", await renderPng(ecdfFigure(set.instances)));
 * ```
 */
export async function renderPng(
  svg: string,
  options: RenderOptions = {},
): Promise<Uint8Array> {
  const { scale = 1, renderer = "auto" } = options;
  if (renderer === "rsvg-convert") return withRsvgConvert(svg, scale);
  const mod = await loadResvg();
  if (mod instanceof Error) {
    if (renderer === "resvg") {
      throw new Error(
        `Cannot render PNG: @resvg/resvg-js did not load (${mod.message}). Use renderer "rsvg-convert" (Debian librsvg2-bin).`,
      );
    }
    return withRsvgConvert(svg, scale);
  }
  const fonts = figureFontFiles(options.fontFiles);
  const r = new mod.Resvg(svg, {
    fitTo: scale === 1 ? { mode: "original" } : { mode: "zoom", value: scale },
    font: {
      fontFiles: fonts,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
    background: "white",
  });
  return r.render().asPng();
}

/**
 * Width and height of a PNG, read from its IHDR chunk. Throws when the
 * bytes are not a PNG.
 *
 * @example
 * ```ts
 * import { pngSize } from "./render.ts";
 * // the 24 header bytes of a 720 × 330 PNG
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 2, 0xd0, 0, 0, 1, 0x4a]);
 * console.log(pngSize(png)); // { width: 720, height: 330 }
 * ```
 */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const isPng = png.length >= 24 && sig.every((b, i) => png[i] === b) &&
    String.fromCharCode(...png.subarray(12, 16)) === "IHDR";
  if (!isPng) {
    throw new Error(
      "Cannot read the PNG size: the bytes do not start with a PNG signature and IHDR chunk",
    );
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
