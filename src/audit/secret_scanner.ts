/**
 * Finds known secret values in text and masks them: an Aho–Corasick automaton
 * built once, so one pass over the text finds every secret however many there
 * are.
 *
 * @module
 */

/** What replaces a secret value, a sensitive field or a credential in text. */
export const REDACTED = "[REDACTED]";

/** Secrets shorter than this are ignored: masking "a" or "123" would shred every output. */
export const MIN_SECRET_LENGTH = 4;

/**
 * Masks known secret values in text. Build one per set of secrets (at config
 * load) and reuse it for every tool output and audit record.
 *
 * Besides each raw value it also finds the value as written inside a JSON
 * string (quotes and backslashes escaped), since outputs are often JSON.
 * Overlapping or adjacent matches are masked as one.
 *
 * @example
 * ```ts
 * const scanner = new SecretScanner([token.reveal()]);
 * scanner.scan(`curl -H "X-Token: ${token.reveal()}"`); // 'curl -H "X-Token: [REDACTED]"'
 * ```
 */
export class SecretScanner {
  /** Trie edges: `#edges[node]` maps a UTF-16 code unit to the next node. */
  #edges: Map<number, number>[] = [new Map()];
  /** Failure links (longest proper suffix that is also a trie path). */
  #fail: number[] = [0];
  /** Length of the longest secret ending at each node (0 for none). */
  #match: number[] = [0];
  /** Distinct patterns searched for (secrets and their JSON-escaped forms). */
  readonly size: number;

  /**
   * Builds the automaton once for a set of secrets.
   *
   * @param secrets Secret values; those shorter than {@linkcode MIN_SECRET_LENGTH} are ignored.
   */
  constructor(secrets: Iterable<string>) {
    const patterns = new Set<string>();
    for (const secret of secrets) {
      if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) continue;
      patterns.add(secret);
      patterns.add(JSON.stringify(secret).slice(1, -1));
    }
    this.size = patterns.size;
    for (const pattern of patterns) this.#insert(pattern);
    this.#link();
  }

  #insert(pattern: string): void {
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const unit = pattern.charCodeAt(i);
      let next = this.#edges[node].get(unit);
      if (next === undefined) {
        next = this.#edges.length;
        this.#edges.push(new Map());
        this.#fail.push(0);
        this.#match.push(0);
        this.#edges[node].set(unit, next);
      }
      node = next;
    }
    this.#match[node] = pattern.length;
  }

  /** Breadth-first: failure links, and the longest match each node inherits through them. */
  #link(): void {
    const queue = [...this.#edges[0].values()];
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head];
      for (const [unit, child] of this.#edges[node]) {
        let fallback = this.#fail[node];
        while (fallback !== 0 && !this.#edges[fallback].has(unit)) fallback = this.#fail[fallback];
        const target = this.#edges[fallback].get(unit);
        this.#fail[child] = target !== undefined && target !== child ? target : 0;
        // A node's own secret is longer than any suffix's, so it wins when present.
        if (this.#match[child] === 0) this.#match[child] = this.#match[this.#fail[child]];
        queue.push(child);
      }
    }
  }

  /**
   * Replaces every occurrence of a known secret with {@linkcode REDACTED}.
   * Runs in time linear in the text (plus the matches found).
   *
   * @param text Any text, e.g. a tool's output.
   * @returns The text with secrets masked; the same string when none occur.
   */
  scan(text: string): string {
    if (this.size === 0) return text;
    const edges = this.#edges, fail = this.#fail, match = this.#match;
    let depth: Int32Array | undefined;
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      let next = edges[node].get(unit);
      while (next === undefined && node !== 0) {
        node = fail[node];
        next = edges[node].get(unit);
      }
      node = next ?? 0;
      const length = match[node];
      if (length > 0) {
        // Count how many matches cover each position: +1 at a start, -1 after an end.
        depth ??= new Int32Array(text.length + 1);
        depth[i - length + 1]++;
        depth[i + 1]--;
      }
    }
    if (depth === undefined) return text;
    const parts: string[] = [];
    let covered = 0, from = 0;
    for (let i = 0; i < text.length; i++) {
      const before = covered;
      covered += depth[i];
      if (before === 0 && covered > 0) {
        parts.push(text.slice(from, i), REDACTED);
      } else if (before > 0 && covered === 0) {
        from = i;
      }
    }
    if (covered === 0) parts.push(text.slice(from));
    return parts.join("");
  }
}
