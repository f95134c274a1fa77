/**
 * Shared plumbing of the figures: a linkedom document, one outer `<svg>`
 * holding a title, a subtitle, a legend and Plot panels placed on a grid,
 * a fixed font, and ids that do not depend on how many plots the process
 * drew before (Plot numbers its clip paths and markers with global
 * counters).
 *
 * @module
 */

import type * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/** The SVG namespace (the only URL-like string a figure contains). */
export const SVG_NS = "http://www.w3.org/2000/svg";

/** Font family of every figure (DejaVu Sans from Debian's fonts-dejavu-core, also used for PNG). */
export const FIGURE_FONT = "DejaVu Sans, sans-serif";

/** Default figure width in px. */
export const FIGURE_WIDTH = 720;

/** The part of a DOM node the figures use (linkedom's nodes fit). */
export interface DomNode {
  /** Element name (absent for text nodes). */
  tagName?: string;
}

/** The part of a DOM element the figures use (linkedom's elements fit). */
export interface DomElement extends DomNode {
  /** An attribute's value, null when absent. */
  getAttribute(name: string): string | null;
  /** Set an attribute. */
  setAttribute(name: string, value: string): void;
  /** Append a child (moving it from its old parent). */
  appendChild(child: DomNode): unknown;
  /** Its children. */
  readonly childNodes: ArrayLike<DomNode> & Iterable<DomNode>;
  /** Its text. */
  textContent: string | null;
  /** It and its children as markup. */
  readonly outerHTML: string;
}

/** The part of a DOM document the figures use (pass linkedom's `parseHTML(…).document`). */
export interface DomDocument {
  /** A new element in a namespace ({@link SVG_NS} for the figures). */
  createElementNS(namespace: string, name: string): DomElement;
}

/** Options every figure accepts. */
export interface FigureOptions {
  /** DOM document Plot draws into (linkedom's; default: a new one from {@link svgDocument}). */
  document?: DomDocument;
  /** Figure width in px (default {@link FIGURE_WIDTH}). */
  width?: number;
  /** Title line (each figure has its own default). */
  title?: string;
  /** Second line under the title (each figure has its own default). */
  subtitle?: string;
}

/**
 * A fresh DOM document (linkedom) to draw figures into without a browser.
 *
 * @example
 * ```ts
 * import { SVG_NS, svgDocument } from "./compose.ts";
 * const document = svgDocument(); // give it to a figure: ecdfFigure(instances, { document })
 * const rect = document.createElementNS(SVG_NS, "rect");
 * rect.setAttribute("width", "3");
 * console.log(rect.outerHTML); // <rect width="3" />
 * ```
 */
export function svgDocument(): DomDocument {
  const window = parseHTML("<html><body></body></html>") as unknown as {
    document: DomDocument;
  };
  return window.document;
}

/** One legend entry drawn above the panels. */
export interface LegendItem {
  /** Its text. */
  label: string;
  /** Swatch colour (CSS). */
  color: string;
  /** Swatch shape (default "line"). */
  shape?: "line" | "dot" | "ring";
}

/** A Plot drawing placed in the figure. */
export interface Panel {
  /** What Plot.plot returned (an `<svg>` element: do not use Plot's title/caption, which wrap it in a `<figure>`). */
  plot: DomElement;
  /** Left edge, px from the figure's left. */
  x: number;
  /** Top edge, px below the header (title, subtitle, legend). */
  y: number;
  /** Label written in the panel's top right corner (Plot's y label takes the top left). */
  label?: string;
}

/** Options of {@link composeFigure}. */
export interface ComposeOptions {
  /** Figure width, px. */
  width: number;
  /** Height of the panel area (below the header), px. */
  height: number;
  /** Title line (bold). */
  title?: string;
  /** Second line under the title. */
  subtitle?: string;
  /** Legend entries, above the panels. */
  legend?: LegendItem[];
}

const TITLE_SIZE = 14;
const SUBTITLE_SIZE = 11;

function el(
  document: DomDocument,
  name: string,
  attrs: Record<string, string | number>,
  text?: string,
): DomElement {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Height of the header {@link composeFigure} draws for these options, px.
 *
 * @example
 * ```ts
 * import { headerHeight } from "./compose.ts";
 * console.log(headerHeight({ title: "ECDF" }), headerHeight({ title: "ECDF", subtitle: "N = 16" })); // 30 46
 * ```
 */
export function headerHeight(
  options: {
    title?: string;
    subtitle?: string;
    legend?: LegendItem[];
    width?: number;
  },
): number {
  let h = 8;
  if (options.title) h += 22;
  if (options.subtitle) h += 16;
  if (options.legend?.length) {
    h += 18 * legendLayout(options.legend, options.width ?? Infinity).rows;
  }
  return h;
}

/**
 * Where each legend entry goes: entries flow left to right and wrap to a
 * new row when the next one would pass `width` − 12 px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { legendLayout } from "./compose.ts";
 * assert.deepEqual(legendLayout([{ label: "a", color: "red" }], 720), { rows: 1, at: [{ x: 12, row: 0 }] });
 * const long = { label: "x".repeat(40), color: "red" };
 * console.log(legendLayout([long, long], 400).rows); // 2: the second entry wraps
 * ```
 */
export function legendLayout(
  items: readonly LegendItem[],
  width: number,
): { rows: number; at: { x: number; row: number }[] } {
  const at: { x: number; row: number }[] = [];
  let x = 12;
  let row = 0;
  for (const item of items) {
    const w = 21 + textWidth(item.label, SUBTITLE_SIZE);
    if (x > 12 && x + w > width - 12) {
      x = 12;
      row++;
    }
    at.push({ x, row });
    x += w + 16;
  }
  return { rows: items.length ? row + 1 : 0, at };
}

/**
 * Assemble Plot panels into one standalone SVG string: white background,
 * title, subtitle, a legend row, then each panel's content moved into a
 * `<g transform="translate(x,y)">` (Plot's per-plot `<style>` is dropped,
 * its presentation attributes kept), with the font fixed to
 * {@link FIGURE_FONT} and ids renumbered by {@link normalizeIds}.
 *
 * @example
 * ```ts
 * import * as Plot from "@observablehq/plot";
 * import { basePlotOptions, composeFigure, type DomElement, svgDocument } from "./compose.ts";
 * const document = svgDocument();
 * const plot = Plot.plot({ ...basePlotOptions(document), width: 300, height: 200, marks: [Plot.frame()] }) as unknown as DomElement;
 * const svg = composeFigure(document, [{ plot, x: 0, y: 0 }], { width: 300, height: 200, title: "Empty" });
 * console.log(svg.startsWith("<svg"), svg.includes('height="230"'), svg.includes(">Empty</text>")); // true true true: 30 px of header
 * ```
 */
export function composeFigure(
  document: DomDocument,
  panels: readonly Panel[],
  options: ComposeOptions,
): string {
  const width = Math.round(options.width);
  const top = headerHeight({ ...options, width });
  const height = Math.round(top + options.height);
  const root = el(document, "svg", {
    xmlns: SVG_NS,
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "font-family": FIGURE_FONT,
    "font-size": 10,
    color: "black",
  });
  root.appendChild(el(document, "rect", { width, height, fill: "white" }));
  let y = 8;
  if (options.title) {
    y += 16;
    root.appendChild(
      el(document, "text", {
        x: 12,
        y,
        "font-size": TITLE_SIZE,
        "font-weight": "bold",
        fill: "black",
      }, options.title),
    );
    y += 6;
  }
  if (options.subtitle) {
    y += 13;
    root.appendChild(
      el(document, "text", {
        x: 12,
        y,
        "font-size": SUBTITLE_SIZE,
        fill: "#444",
      }, options.subtitle),
    );
    y += 3;
  }
  if (options.legend?.length) {
    const layout = legendLayout(options.legend, width);
    const g = el(document, "g", { "font-size": SUBTITLE_SIZE, fill: "black" });
    options.legend.forEach((item, i) => {
      const x = layout.at[i].x;
      const y0 = y + 14 + 18 * layout.at[i].row;
      const shape = item.shape ?? "line";
      if (shape === "line") {
        g.appendChild(
          el(document, "line", {
            x1: x,
            x2: x + 16,
            y1: y0 - 4,
            y2: y0 - 4,
            stroke: item.color,
            "stroke-width": 2,
          }),
        );
      } else {
        g.appendChild(
          el(document, "circle", {
            cx: x + 8,
            cy: y0 - 4,
            r: 4,
            fill: shape === "dot" ? item.color : "none",
            stroke: item.color,
            "stroke-width": shape === "ring" ? 2 : 1,
          }),
        );
      }
      g.appendChild(el(document, "text", { x: x + 21, y: y0 }, item.label));
    });
    root.appendChild(g);
  }
  for (const panel of panels) {
    const g = el(document, "g", {
      transform: `translate(${round(panel.x)},${round(top + panel.y)})`,
    });
    for (const name of ["fill", "font-size", "text-anchor"]) {
      const v = panel.plot.getAttribute(name);
      if (v !== null) g.setAttribute(name, v);
    }
    for (const child of [...panel.plot.childNodes]) {
      if (child.tagName?.toLowerCase() === "style") continue;
      g.appendChild(child);
    }
    root.appendChild(g);
    if (panel.label) {
      const w = Number(panel.plot.getAttribute("width") ?? 0);
      root.appendChild(
        el(document, "text", {
          x: round(panel.x + w) - 6,
          y: round(top + panel.y) + 11,
          "text-anchor": "end",
          "font-size": SUBTITLE_SIZE,
          "font-weight": "bold",
          fill: "black",
        }, panel.label),
      );
    }
  }
  return normalizeIds(root.outerHTML);
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * Rough width of a text in DejaVu Sans at `size` px (0.6 em per character):
 * enough to lay out legend entries.
 *
 * @example
 * ```ts
 * import { textWidth } from "./compose.ts";
 * console.log(textWidth("median", 10)); // 36
 * ```
 */
export function textWidth(text: string, size: number): number {
  return Math.round(text.length * size * 0.6);
}

/**
 * Renumber Plot's generated ids (`plot-clip-N`, `plot-marker-N`,
 * `plot-pattern-N`) by order of first appearance in `svg`, so the same
 * figure gives the same string whatever was drawn before it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeIds } from "./compose.ts";
 * assert.equal(
 *   normalizeIds('<clipPath id="plot-clip-7"/><g clip-path="url(#plot-clip-7)"/>'),
 *   '<clipPath id="bs-clip-1"/><g clip-path="url(#bs-clip-1)"/>',
 * );
 * ```
 */
export function normalizeIds(svg: string): string {
  const seen = new Map<string, string>();
  const counts = new Map<string, number>();
  return svg.replace(
    /plot-(clip|marker|pattern)-(\d+)/g,
    (id, kind: string) => {
      let out = seen.get(id);
      if (!out) {
        const n = (counts.get(kind) ?? 0) + 1;
        counts.set(kind, n);
        out = `bs-${kind}-${n}`;
        seen.set(id, out);
      }
      return out;
    },
  );
}

/**
 * Plot options every panel gets: the document to draw into (the font is
 * set once on the outer `<svg>` by {@link composeFigure}).
 *
 * @example
 * ```ts
 * import * as Plot from "@observablehq/plot";
 * import { basePlotOptions, svgDocument } from "./compose.ts";
 * const plot = Plot.plot({ ...basePlotOptions(svgDocument()), marks: [Plot.frame()] });
 * console.log(plot.tagName); // "SVG"
 * ```
 */
export function basePlotOptions(document: DomDocument): Plot.PlotOptions {
  return { document: document as unknown as Plot.PlotOptions["document"] };
}

/** Colours of the paper's classes (fixed, so every figure agrees). */
export const CLASS_COLORS: Readonly<Record<string, string>> = {
  baseline: "#4269d0",
  libos: "#efb118",
  linux: "#ff725c",
  unknown: "#9498a0",
};
