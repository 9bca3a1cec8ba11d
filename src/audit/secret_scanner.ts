/**
 * Finds known secret values in text and masks them: one Aho–Corasick
 * automaton built once, so one pass over the text finds every secret in
 * every encoding however many there are. A value that comes back encoded —
 * base64 (standard or URL-safe, any of the three byte alignments, padded or
 * not), hex, `\u`-escaped, percent-encoded — is a leak too, so each secret
 * is searched for in each of those forms (see {@linkcode secretForms}).
 *
 * @module
 */

import { decodeEscapes } from "./_escapes.ts";

/** What replaces a secret value, a sensitive field or a credential in text. */
export const REDACTED = "[REDACTED]";

/** Secrets shorter than this are ignored: masking "a" or "123" would shred every output. */
export const MIN_SECRET_LENGTH = 4;

/**
 * A secret's beginning this long or longer is masked where a text or a quoted
 * string in it ends (a cut in the middle of a secret). Shorter beginnings are
 * too common in ordinary text ("pass", "2024") to mask.
 */
export const MIN_EDGE_LENGTH = 8;

/**
 * Long secrets are also searched for by windows of this many characters,
 * cut every {@linkcode WINDOW_STRIDE} characters from the plain forms: a
 * piece of a secret at least `WINDOW_LENGTH + WINDOW_STRIDE` (24) characters
 * long contains a whole window wherever it was cut from, so the start or
 * middle of a secret is found too, not only its whole or its beginning.
 */
export const WINDOW_LENGTH = 16;

/** How far apart the windows of a long secret start (see {@linkcode WINDOW_LENGTH}). */
export const WINDOW_STRIDE = 8;

/**
 * Encoded forms shorter than this are not searched for: the base64 of a
 * 4-byte secret is 4–5 characters, which ordinary text contains by chance.
 */
export const MIN_ENCODED_LENGTH = 8;

const HEX = "0123456789abcdef";
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * The characters of base64 that depend only on the secret's bytes, when the
 * secret starts `align` bytes into a 3-byte group: whatever precedes or
 * follows it, these appear in the encoding.
 */
function base64Core(bytes: Uint8Array, align: number): string {
  const bits = (index: number) => {
    // Bit `index` of the stream that has `align` zero bytes before the secret.
    const byte = Math.floor(index / 8) - align;
    return byte < 0 || byte >= bytes.length ? 0 : (bytes[byte] >> (7 - (index % 8))) & 1;
  };
  const first = Math.ceil((8 * align) / 6);
  const end = Math.floor((8 * (align + bytes.length)) / 6);
  let out = "";
  for (let char = first; char < end; char++) {
    let value = 0;
    for (let bit = 0; bit < 6; bit++) value = (value << 1) | bits(6 * char + bit);
    out += BASE64[value];
  }
  return out;
}

/**
 * Folds a UTF-16 code unit for matching: ASCII letters to lower case and the
 * URL-safe base64 letters `-` `_` to `+` `/`. Patterns and text are folded
 * alike, so one form covers hex in either case and both base64 alphabets;
 * the cost is that a secret also masks its case-folded look-alikes, which
 * errs on the safe side.
 */
const FOLD = (() => {
  const table = new Uint16Array(65536);
  for (let unit = 0; unit < 65536; unit++) table[unit] = unit;
  for (let unit = 65; unit <= 90; unit++) table[unit] = unit + 32;
  table[45] = 43; // - → +
  table[95] = 47; // _ → /
  return table;
})();

function fold(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) out += String.fromCharCode(FOLD[text.charCodeAt(i)]);
  return out;
}

/**
 * Every form a secret is searched for in: as written, inside a JSON string,
 * base64 (the three byte alignments; padding falls outside the searched
 * core, and folding covers the URL-safe alphabet) and hex (folding covers
 * upper case). `\u`-escaped and percent-encoded text is decoded before it is
 * searched (see {@linkcode SecretScanner.scan}), so those need no forms of
 * their own. Encoded forms shorter than {@linkcode MIN_ENCODED_LENGTH} are
 * left out. Forms are returned folded (lower case, `+` `/` for `-` `_`).
 *
 * @param secret A secret value.
 * @returns The distinct folded forms; empty when the secret is shorter than {@linkcode MIN_SECRET_LENGTH}.
 */
export function secretForms(secret: string): string[] {
  if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) return [];
  const forms = new Set([fold(secret), fold(JSON.stringify(secret).slice(1, -1))]);
  const bytes = new TextEncoder().encode(secret);
  const encoded = [0, 1, 2].map((align) => base64Core(bytes, align));
  encoded.push(Array.from(bytes, (b) => HEX[b >> 4] + HEX[b & 15]).join(""));
  for (const form of encoded) if (form.length >= MIN_ENCODED_LENGTH) forms.add(fold(form));
  return [...forms];
}

/**
 * Masks known secret values in text. Build one per set of secrets (at config
 * load) and reuse it for every tool output and audit record.
 *
 * Each secret is searched for in every form {@linkcode secretForms} lists,
 * in the text and in its escape-decoded view. Overlapping or adjacent
 * matches are masked as one.
 *
 * The automaton is compact: trie nodes live in a few `Int32Array`s sized
 * once from the forms' total length (first child, next sibling, the edge's
 * code unit, failure link, match length, depth: 24 bytes a node, no object
 * per node); the root and the nodes that branch get dense tables for their
 * ASCII edges. Memory grows with the total length of the distinct forms;
 * secrets given more than once (one key file shared by 10,000 targets) count
 * once.
 *
 * @example
 * ```ts
 * const scanner = new SecretScanner([token.reveal()]);
 * scanner.scan(`curl -H "X-Token: ${token.reveal()}"`); // 'curl -H "X-Token: [REDACTED]"'
 * ```
 */
export class SecretScanner {
  /** The root's edges by UTF-16 code unit (0: none; node 0 is the root). */
  #root = new Int32Array(65536);
  /** The code unit of the edge that leads into each node. */
  #unit = new Int32Array(1);
  /** Each node's first child (0: none). */
  #first = new Int32Array(1);
  /** The next child of the same parent (0: none). */
  #sibling = new Int32Array(1);
  /**
   * For nodes with several edges, the offset of a dense table of their ASCII
   * edges in {@linkcode SecretScanner.#tables} (0: no table). Hex and base64
   * forms branch a lot near the root, and ordinary text walks there often.
   */
  #tableOf = new Int32Array(1);
  /** The dense tables, 128 entries each, one after another (the first unused). */
  #tables = new Int32Array(128);
  /** Failure links (longest proper suffix that is also a trie path). */
  #fail = new Int32Array(1);
  /** Length of the longest form ending at each node (0 for none). */
  #match = new Int32Array(1);
  /** Length of each node's trie path: how much of a form the text has matched so far. */
  #depth = new Int32Array(1);
  /** Nodes in use (node 0 is the root). */
  #count = 1;
  /** Each window (see {@linkcode WINDOW_LENGTH}) and the form and offset it was cut from. */
  #windows = new Map<string, { form: string; offset: number }>();
  /** Distinct forms searched for (every secret in every encoding). */
  readonly size: number;

  /**
   * Builds the automaton once for a set of secrets.
   *
   * @param secrets Secret values; those shorter than {@linkcode MIN_SECRET_LENGTH} are ignored.
   */
  constructor(secrets: Iterable<string>) {
    const patterns = new Set<string>();
    for (const secret of new Set(secrets)) {
      const forms = secretForms(secret);
      for (const form of forms) patterns.add(form);
      // Windows of the plain forms (as written, JSON-escaped) find a piece from the middle or
      // the end of a long secret; the search then grows the match along the form.
      if (forms.length === 0) continue;
      const plain = new Set([fold(secret), fold(JSON.stringify(secret).slice(1, -1))]);
      for (const form of plain) {
        if (form.length < WINDOW_LENGTH + WINDOW_STRIDE) continue;
        for (let at = 0; at + WINDOW_LENGTH <= form.length; at += WINDOW_STRIDE) {
          const window = form.slice(at, at + WINDOW_LENGTH);
          if (!this.#windows.has(window)) this.#windows.set(window, { form, offset: at });
        }
      }
    }
    this.size = patterns.size;
    const windows = [...this.#windows.keys()].filter((window) => !patterns.has(window));
    // A trie has at most one node per pattern character, plus the root.
    let capacity = 1;
    for (const pattern of patterns) capacity += pattern.length;
    capacity += windows.length * WINDOW_LENGTH;
    this.#unit = new Int32Array(capacity);
    this.#first = new Int32Array(capacity);
    this.#sibling = new Int32Array(capacity);
    this.#match = new Int32Array(capacity);
    this.#depth = new Int32Array(capacity);
    for (const pattern of patterns) this.#insert(pattern);
    for (const window of windows) this.#insert(window);
    // Shared prefixes leave the arrays longer than needed: keep what is used.
    const used = this.#count;
    this.#unit = this.#unit.slice(0, used);
    this.#first = this.#first.slice(0, used);
    this.#sibling = this.#sibling.slice(0, used);
    this.#match = this.#match.slice(0, used);
    this.#depth = this.#depth.slice(0, used);
    this.#fail = new Int32Array(used);
    this.#link();
    this.#tableOf = new Int32Array(used);
    let branching = 0;
    for (let node = 1; node < used; node++) {
      const first = this.#first[node];
      if (first !== 0 && this.#sibling[first] !== 0) branching++;
    }
    this.#tables = new Int32Array(128 * (branching + 1));
    let offset = 128;
    for (let node = 1; node < used; node++) {
      const first = this.#first[node];
      if (first === 0 || this.#sibling[first] === 0) continue;
      for (let child = first; child !== 0; child = this.#sibling[child]) {
        if (this.#unit[child] < 128) this.#tables[offset + this.#unit[child]] = child;
      }
      this.#tableOf[node] = offset;
      offset += 128;
    }
  }

  #next(node: number, unit: number): number | undefined {
    if (node === 0) return this.#root[unit] || undefined;
    for (let child = this.#first[node]; child !== 0; child = this.#sibling[child]) {
      if (this.#unit[child] === unit) return child;
    }
    return undefined;
  }

  #add(node: number, unit: number): number {
    const created = this.#count++;
    this.#unit[created] = unit;
    this.#depth[created] = this.#depth[node] + 1;
    if (node === 0) {
      this.#root[unit] = created;
    } else {
      this.#sibling[created] = this.#first[node];
      this.#first[node] = created;
    }
    return created;
  }

  // Forms arrive folded (secretForms), as the text is folded while it is searched.
  #insert(pattern: string): void {
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const unit = pattern.charCodeAt(i);
      node = this.#next(node, unit) ?? this.#add(node, unit);
    }
    this.#match[node] = pattern.length;
  }

  /** Breadth-first: failure links, and the longest match each node inherits through them. */
  #link(): void {
    const queue = new Int32Array(this.#count);
    let tail = 0;
    for (let unit = 0; unit < 65536; unit++) {
      if (this.#root[unit] !== 0) queue[tail++] = this.#root[unit];
    }
    for (let head = 0; head < tail; head++) {
      const node = queue[head];
      for (let child = this.#first[node]; child !== 0; child = this.#sibling[child]) {
        const unit = this.#unit[child];
        let fallback = this.#fail[node];
        let target = this.#next(fallback, unit);
        while (target === undefined && fallback !== 0) {
          fallback = this.#fail[fallback];
          target = this.#next(fallback, unit);
        }
        this.#fail[child] = target !== undefined && target !== child ? target : 0;
        // A node's own form is longer than any suffix's, so it wins when present.
        if (this.#match[child] === 0) this.#match[child] = this.#match[this.#fail[child]];
        queue[tail++] = child;
      }
    }
  }

  /**
   * At the end of the text or of a quoted string (`at`): a form's beginning
   * that runs up to it, or up to an escape cut short just before it, to be
   * masked through the edge. (A method, not a closure: a closure over the
   * search loop's variables would slow every step of it.)
   */
  #edge(
    node: number,
    at: number,
    stringStart: number,
    beforeEscape: number,
    depthBeforeEscape: number,
  ): [number, number] | undefined {
    const depth = this.#depth[node];
    if (depth >= MIN_EDGE_LENGTH && this.#match[node] === 0 && at - depth >= stringStart) {
      return [at - depth, at];
    }
    if (
      beforeEscape >= 0 && at - beforeEscape <= 7 && depthBeforeEscape >= MIN_EDGE_LENGTH &&
      beforeEscape - depthBeforeEscape >= stringStart
    ) {
      return [beforeEscape - depthBeforeEscape, at];
    }
    return undefined;
  }

  /**
   * Calls `found(start, end)` for the longest form ending at each position of
   * `text`. With `edges`, also for a form's beginning (at least
   * {@linkcode MIN_EDGE_LENGTH} characters) that the text or a quoted string
   * in it ends with: where output was cut, the rest of the secret is missing.
   */
  #search(text: string, found: (start: number, end: number) => void, edges = false): void {
    const root = this.#root, unitOf = this.#unit, firstOf = this.#first;
    const sibling = this.#sibling, fail = this.#fail, match = this.#match, depthOf = this.#depth;
    const tableOf = this.#tableOf, tables = this.#tables;
    let node = 0;
    // Where the current quoted string began, and whether the last character escapes the next.
    let stringStart = 0, escaped = false, beforeEscape = -1, depthBeforeEscape = 0;
    // Where the last grown window match ended: windows inside it need not grow again.
    let grown = 0;
    for (let i = 0; i < text.length; i++) {
      const raw = text.charCodeAt(i);
      if (edges) {
        if (raw === 34 /* " */ && !escaped) {
          const span = this.#edge(node, i, stringStart, beforeEscape, depthBeforeEscape);
          if (span) found(span[0], span[1]);
          stringStart = i + 1;
        }
        // A cut can fall inside an escape (`\u00`, `%C`): remember the match before it began.
        if (
          (raw === 92 /* \ */ || raw === 37 /* % */) && (beforeEscape < 0 || i - beforeEscape > 7)
        ) {
          beforeEscape = i;
          depthBeforeEscape = depthOf[node];
        }
        escaped = raw === 92 /* \ */ && !escaped;
      }
      const unit = FOLD[raw];
      while (true) {
        if (node === 0) {
          node = root[unit];
          break;
        }
        let next = 0;
        const table = tableOf[node];
        if (table !== 0 && unit < 128) {
          next = tables[table + unit];
        } else {
          for (let child = firstOf[node]; child !== 0; child = sibling[child]) {
            if (unitOf[child] === unit) {
              next = child;
              break;
            }
          }
        }
        if (next !== 0) {
          node = next;
          break;
        }
        node = fail[node];
      }
      const length = match[node];
      if (length === WINDOW_LENGTH && i + 1 > grown) {
        const window = this.#windows.get(fold(text.slice(i + 1 - length, i + 1)));
        if (window) {
          // Grow the match along the form both ways, as far as the text follows it.
          let start = i + 1 - length, end = i + 1;
          for (let at = window.offset - 1; start > 0 && at >= 0; at--, start--) {
            if (FOLD[text.charCodeAt(start - 1)] !== window.form.charCodeAt(at)) break;
          }
          for (
            let at = window.offset + length;
            end < text.length && at < window.form.length;
            at++, end++
          ) {
            if (FOLD[text.charCodeAt(end)] !== window.form.charCodeAt(at)) break;
          }
          grown = end;
          found(start, end);
          continue;
        }
      }
      if (length > 0) found(i - length + 1, i + 1);
    }
    if (edges) {
      const span = this.#edge(node, text.length, stringStart, beforeEscape, depthBeforeEscape);
      if (span) found(span[0], span[1]);
    }
  }

  /**
   * Replaces every occurrence of a known secret, in any of its forms, with
   * {@linkcode REDACTED}: as written, JSON-escaped, base64, hex, and — after
   * decoding `\u` and percent escapes, even when only some characters are
   * escaped — `\u`-escaped or percent-encoded. The beginning of a form (at
   * least {@linkcode MIN_EDGE_LENGTH} characters) at the end of the text or
   * of a quoted (JSON) string in it is masked too: output cut at a cap, or a
   * read that stops inside a secret, leaves no prefix behind. Runs in time linear in the
   * text (plus the matches found); extra memory grows with the matches, not
   * the text, unless the text holds escapes (then one decoded copy).
   *
   * @param text Any text, e.g. a tool's output.
   * @returns The text with secrets masked; the same string when none occur.
   */
  scan(text: string): string {
    if (this.size === 0) return text;
    const spans: [number, number][] = [];
    this.#search(text, (start, end) => spans.push([start, end]), true);
    if (text.includes("%") || text.includes("\\u")) {
      const view = decodeEscapes(text);
      view && this.#search(view.text, (start, end) => {
        spans.push([view.origin(start)[0], view.origin(end - 1)[1]]);
      }, true);
    }
    if (spans.length === 0) return text;
    spans.sort((a, b) => a[0] - b[0]);
    const parts: string[] = [];
    let from = 0;
    for (let k = 0; k < spans.length;) {
      const start = spans[k][0];
      let end = spans[k][1];
      // Overlapping or adjacent matches are masked as one.
      for (k++; k < spans.length && spans[k][0] <= end; k++) end = Math.max(end, spans[k][1]);
      parts.push(text.slice(from, start), REDACTED);
      from = end;
    }
    parts.push(text.slice(from));
    return parts.join("");
  }
}
