/**
 * Colour quantization for GIF: one palette of at most 256 colours for all the frames of a video, and each
 * frame's pixels mapped to it, with optional Floyd–Steinberg error diffusion.
 *
 * The palette is a median cut (Heckbert 1982) over a histogram of all frames together: one global palette keeps
 * a colour the same from frame to frame (a palette per frame makes flat areas flicker as their nearest entry
 * changes) and is stored once. The histogram has 5 bits per channel (32768 cells); each cell keeps its pixel
 * count and the sums of the exact 8-bit values, so a palette entry is the mean of the real pixels of its box, not
 * of cell centres. The box split next is the one with the largest pixel count times its longest side, cut across
 * that side at the pixel median. A video of at most 256 distinct colours gets exactly those colours, and every
 * pixel its own colour back.
 *
 * Mapping: the nearest palette entry by squared RGB distance, remembered per cell of 6 bits per channel (the entry
 * nearest to the cell's centre), so a pixel may get an entry up to 2 levels per channel from its true nearest
 * one; dithering diffuses the error against the entry actually chosen, so the image's mean colour is kept. Each
 * frame is dithered on its own, rows left to right.
 */

/** A palette: `size` colours as R, G, B bytes, and whether it holds every colour of the video exactly. */
export interface Palette {
  readonly colors: Uint8Array;
  readonly size: number;
  readonly exact: boolean;
}

const HIST_BITS = 5;
const HIST_SHIFT = 8 - HIST_BITS;
const HIST_SIDE = 1 << HIST_BITS;

/** A box of histogram cells: the cells `order[lo..hi)` and their pixel count and extent per channel (cell units). */
interface Box {
  readonly lo: number;
  readonly hi: number;
  readonly count: number;
  readonly min: readonly [number, number, number];
  readonly max: readonly [number, number, number];
}

function cellChannel(cell: number, channel: number): number {
  return (cell >> (HIST_BITS * (2 - channel))) & (HIST_SIDE - 1);
}

function makeBox(order: Int32Array, counts: Float64Array, lo: number, hi: number): Box {
  const min: [number, number, number] = [HIST_SIDE, HIST_SIDE, HIST_SIDE];
  const max: [number, number, number] = [-1, -1, -1];
  let count = 0;
  for (let i = lo; i < hi; i++) {
    const cell = order[i]!;
    count += counts[cell]!;
    for (let c = 0; c < 3; c++) {
      const v = cellChannel(cell, c);
      if (v < min[c]!) min[c] = v;
      if (v > max[c]!) max[c] = v;
    }
  }
  return { lo, hi, count, min, max };
}

function longestSide(box: Box): { channel: number; span: number } {
  let channel = 0;
  let span = -1;
  for (let c = 0; c < 3; c++) {
    const s = box.max[c]! - box.min[c]!;
    if (s > span) {
      span = s;
      channel = c;
    }
  }
  return { channel, span };
}

/** Up to `maxColors` distinct colours in order of first appearance, or undefined when there are more. */
function distinctColors(frames: readonly Uint8Array[], maxColors: number): number[] | undefined {
  const seen = new Set<number>();
  const order: number[] = [];
  for (const f of frames) {
    for (let i = 0; i < f.length; i += 3) {
      const rgb = (f[i]! << 16) | (f[i + 1]! << 8) | f[i + 2]!;
      if (seen.has(rgb)) continue;
      if (order.length === maxColors) return undefined;
      seen.add(rgb);
      order.push(rgb);
    }
  }
  return order;
}

/** The median-cut palette of RGB frames (interleaved R, G, B bytes each), at most `maxColors` (2 to 256) colours. */
export function buildPalette(frames: readonly Uint8Array[], maxColors = 256): Palette {
  if (!(Number.isInteger(maxColors) && maxColors >= 2 && maxColors <= 256)) throw new RangeError(`a GIF palette has 2 to 256 colours, not ${maxColors}`);
  const distinct = distinctColors(frames, maxColors);
  if (distinct) {
    const colors = new Uint8Array(distinct.length * 3);
    distinct.forEach((rgb, i) => {
      colors[3 * i] = rgb >>> 16;
      colors[3 * i + 1] = (rgb >>> 8) & 0xff;
      colors[3 * i + 2] = rgb & 0xff;
    });
    return { colors, size: distinct.length, exact: true };
  }

  const cells = HIST_SIDE * HIST_SIDE * HIST_SIDE;
  const counts = new Float64Array(cells);
  const sums = new Float64Array(cells * 3);
  for (const f of frames) {
    for (let i = 0; i < f.length; i += 3) {
      const r = f[i]!;
      const g = f[i + 1]!;
      const b = f[i + 2]!;
      const cell = ((r >> HIST_SHIFT) << (2 * HIST_BITS)) | ((g >> HIST_SHIFT) << HIST_BITS) | (b >> HIST_SHIFT);
      counts[cell]! += 1;
      sums[3 * cell]! += r;
      sums[3 * cell + 1]! += g;
      sums[3 * cell + 2]! += b;
    }
  }
  let used = 0;
  for (let c = 0; c < cells; c++) if (counts[c]! > 0) used++;
  const order = new Int32Array(used);
  for (let c = 0, k = 0; c < cells; c++) if (counts[c]! > 0) order[k++] = c;

  const boxes: Box[] = [makeBox(order, counts, 0, used)];
  while (boxes.length < maxColors) {
    let pick = -1;
    let priority = -1;
    for (let i = 0; i < boxes.length; i++) {
      const box = boxes[i]!;
      if (box.hi - box.lo < 2) continue;
      const p = box.count * (longestSide(box).span + 1);
      if (p > priority) {
        priority = p;
        pick = i;
      }
    }
    if (pick < 0) break; // every box is one cell
    const box = boxes[pick]!;
    const { channel } = longestSide(box);
    const slice = order.subarray(box.lo, box.hi);
    slice.sort((a, b) => cellChannel(a, channel) - cellChannel(b, channel) || a - b);
    // The first cut after at least half the pixels, keeping a cell on each side.
    let cut = box.lo + 1;
    let running = 0;
    for (let i = box.lo; i < box.hi - 1; i++) {
      running += counts[order[i]!]!;
      cut = i + 1;
      if (2 * running >= box.count) break;
    }
    boxes.splice(pick, 1, makeBox(order, counts, box.lo, cut), makeBox(order, counts, cut, box.hi));
  }

  const colors = new Uint8Array(boxes.length * 3);
  boxes.forEach((box, i) => {
    const sum = [0, 0, 0];
    for (let k = box.lo; k < box.hi; k++) {
      const cell = order[k]!;
      for (let c = 0; c < 3; c++) sum[c]! += sums[3 * cell + c]!;
    }
    for (let c = 0; c < 3; c++) colors[3 * i + c] = Math.min(255, Math.round(sum[c]! / box.count));
  });
  return { colors, size: boxes.length, exact: false };
}

/** The nearest palette entry of a colour, by squared RGB distance (the lowest index on a tie). */
export function nearestEntry(palette: Palette, r: number, g: number, b: number): number {
  const p = palette.colors;
  let best = 0;
  let bestDistance = Infinity;
  for (let i = 0; i < palette.size; i++) {
    const dr = p[3 * i]! - r;
    const dg = p[3 * i + 1]! - g;
    const db = p[3 * i + 2]! - b;
    const d = dr * dr + dg * dg + db * db;
    if (d < bestDistance) {
      bestDistance = d;
      best = i;
    }
  }
  return best;
}

/** Maps colours to palette entries; built once per palette and used for every frame. */
export class PaletteMapper {
  /** Exact palettes: colour → entry. */
  private readonly exactIndex: Map<number, number> | undefined;
  /** Other palettes: the entry per 6-bit cell, −1 until first asked. */
  private readonly cellIndex: Int16Array | undefined;

  constructor(readonly palette: Palette) {
    if (palette.exact) {
      this.exactIndex = new Map();
      for (let i = 0; i < palette.size; i++) this.exactIndex.set((palette.colors[3 * i]! << 16) | (palette.colors[3 * i + 1]! << 8) | palette.colors[3 * i + 2]!, i);
    } else {
      this.cellIndex = new Int16Array(1 << 18).fill(-1);
    }
  }

  /** The entry of an 8-bit colour. */
  entry(r: number, g: number, b: number): number {
    if (this.exactIndex) {
      const exact = this.exactIndex.get((r << 16) | (g << 8) | b);
      if (exact !== undefined) return exact;
      return nearestEntry(this.palette, r, g, b);
    }
    const cell = ((r >> 2) << 12) | ((g >> 2) << 6) | (b >> 2);
    let e = this.cellIndex![cell]!;
    if (e < 0) {
      e = nearestEntry(this.palette, (r & ~3) + 1.5, (g & ~3) + 1.5, (b & ~3) + 1.5);
      this.cellIndex![cell] = e;
    }
    return e;
  }

  /**
   * A frame's palette indices, row by row. With `dither`, Floyd–Steinberg: each pixel's error against its entry
   * goes 7/16 to the right, 3/16 below left, 5/16 below and 1/16 below right.
   */
  indices(frame: Uint8Array, width: number, height: number, dither: boolean): Uint8Array {
    const out = new Uint8Array(width * height);
    if (!dither || this.palette.exact) {
      for (let i = 0, p = 0; i < out.length; i++, p += 3) out[i] = this.entry(frame[p]!, frame[p + 1]!, frame[p + 2]!);
      return out;
    }
    const colors = this.palette.colors;
    // Error rows with one spare pixel on each side, so the edges need no tests.
    let current = new Float32Array((width + 2) * 3);
    let below = new Float32Array((width + 2) * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = 3 * (y * width + x);
        const e = 3 * (x + 1);
        const r = clampByte(frame[p]! + current[e]!);
        const g = clampByte(frame[p + 1]! + current[e + 1]!);
        const b = clampByte(frame[p + 2]! + current[e + 2]!);
        const k = this.entry(Math.round(r), Math.round(g), Math.round(b));
        out[y * width + x] = k;
        spread(current, below, e, r - colors[3 * k]!);
        spread(current, below, e + 1, g - colors[3 * k + 1]!);
        spread(current, below, e + 2, b - colors[3 * k + 2]!);
      }
      [current, below] = [below, current];
      below.fill(0);
    }
    return out;
  }
}

/** One channel's error at error-row position `e` shared out to the neighbours, in Floyd–Steinberg's weights. */
function spread(current: Float32Array, below: Float32Array, e: number, err: number): void {
  current[e + 3]! += (err * 7) / 16;
  below[e - 3]! += (err * 3) / 16;
  below[e]! += (err * 5) / 16;
  below[e + 3]! += err / 16;
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}
