/**
 * A decoded view of text that carries escapes: `\uXXXX` (also as written
 * inside a JSON string, `\\uXXXX`) and percent-encoding (`%XX`, UTF-8), so
 * that a secret written in either — wholly or in part — is found by the same
 * search as the plain value. Each decoded character maps back to the span of
 * the original text it came from, so a match can be masked there.
 *
 * @module
 */

/** The decoded text and the way back to the original's positions. */
export interface EscapeView {
  /** The text with every recognised escape decoded. */
  readonly text: string;
  /**
   * The original span a decoded character came from.
   *
   * @param index A position in {@linkcode EscapeView.text}.
   * @returns `[start, end)` in the original text.
   */
  origin(index: number): [number, number];
}

const UTF16 = new TextDecoder("utf-16le");

/** The value of a hex digit's code unit, or -1. */
function digit(unit: number): number {
  if (unit >= 48 && unit <= 57) return unit - 48;
  const lower = unit | 32;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/** The byte two hex digits at `at` spell, or -1. */
function hexByte(text: string, at: number): number {
  const high = digit(text.charCodeAt(at)), low = digit(text.charCodeAt(at + 1));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/** Decodes one `%XX` UTF-8 sequence at `at`: the UTF-16 text and the original length, or undefined. */
function percentAt(text: string, at: number): [string, number] | undefined {
  const lead = hexByte(text, at + 1);
  if (lead < 0) return undefined;
  if (lead < 0x80) return [String.fromCharCode(lead), 3];
  const extra = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : -1;
  if (extra < 0 || lead > 0xf4) return undefined;
  let point = lead & (0x3f >> extra);
  for (let k = 1; k <= extra; k++) {
    const pos = at + 3 * k;
    if (text[pos] !== "%") return undefined;
    const next = hexByte(text, pos + 1);
    if (next < 0x80 || next > 0xbf) return undefined;
    point = (point << 6) | (next & 0x3f);
  }
  if (point > 0x10ffff) return undefined;
  return [String.fromCodePoint(point), 3 * (extra + 1)];
}

/** Decodes one `\uXXXX` or `\\uXXXX` at `at`. */
function unicodeAt(text: string, at: number): [string, number] | undefined {
  const slashes = text[at + 1] === "\\" ? 2 : 1;
  const u = at + slashes;
  if (text[u] !== "u") return undefined;
  const high = hexByte(text, u + 1), low = hexByte(text, u + 3);
  if (high < 0 || low < 0) return undefined;
  return [String.fromCharCode((high << 8) | low), slashes + 5];
}

/**
 * Decodes the escapes in a text.
 *
 * @param text Any text.
 * @returns The view, or `undefined` when the text holds no escape.
 */
export function decodeEscapes(text: string): EscapeView | undefined {
  // The decoded text is never longer than the original: build it in one buffer.
  let units: Uint16Array | undefined;
  // One entry per decoded escape: where it starts in the view, where in the original, how long.
  const viewAt: number[] = [], originAt: number[] = [], originLength: number[] = [];
  let from = 0, viewLength = 0;
  for (let i = text.indexOf("%"), j = text.indexOf("\\"); i !== -1 || j !== -1;) {
    const at = j === -1 || (i !== -1 && i < j) ? i : j;
    const decoded = at === i ? percentAt(text, at) : unicodeAt(text, at);
    if (decoded !== undefined) {
      units ??= new Uint16Array(text.length);
      for (let k = from; k < at; k++) units[viewLength++] = text.charCodeAt(k);
      const [chars, length] = decoded;
      for (let k = 0; k < chars.length; k++) {
        viewAt.push(viewLength);
        originAt.push(at);
        originLength.push(length);
        units[viewLength++] = chars.charCodeAt(k);
      }
      from = at + length;
    }
    const next = Math.max(at + 1, from);
    if (at === i || i < next) i = i === -1 ? -1 : text.indexOf("%", next);
    if (at === j || j < next) j = j === -1 ? -1 : text.indexOf("\\", next);
  }
  if (units === undefined) return undefined;
  for (let k = from; k < text.length; k++) units[viewLength++] = text.charCodeAt(k);
  // A lone surrogate becomes U+FFFD: one unit for one, so positions still map back, and
  // a secret read from YAML or the environment holds no lone surrogate to be found.
  const view = UTF16.decode(units.subarray(0, viewLength));
  return {
    text: view,
    origin(index) {
      // The last decoded escape at or before `index`.
      let lo = 0, hi = viewAt.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (viewAt[mid] <= index) {
          found = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (found === -1) return [index, index + 1];
      if (viewAt[found] === index) return [originAt[found], originAt[found] + originLength[found]];
      const after = originAt[found] + originLength[found] + (index - viewAt[found] - 1);
      return [after, after + 1];
    },
  };
}
