/**
 * A unified diff of two texts, line by line, for file_write's dry run.
 *
 * @module
 */

/** Lines per side beyond which no diff is computed (the table is quadratic). */
export const MAX_DIFF_LINES = 2000;

const CONTEXT = 3;

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/**
 * The unified diff (`--- a`, `+++ b`, `@@` hunks with 3 lines of context).
 *
 * @param before The current text (`""` for a new file).
 * @param after The new text.
 * @param labels Names for the `---` and `+++` lines.
 * @returns The diff (`""` when equal), or `null` when either side has more than
 *   {@linkcode MAX_DIFF_LINES} lines.
 */
export function unifiedDiff(
  before: string,
  after: string,
  labels: { from: string; to: string },
): string | null {
  const a = splitLines(before);
  const b = splitLines(after);
  if (a.length > MAX_DIFF_LINES || b.length > MAX_DIFF_LINES) return null;
  if (before === after) return "";
  // lcs[i][j]: longest common subsequence of a[i..] and b[j..], one flat table.
  const width = b.length + 1;
  const lcs = new Uint16Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j]
        ? lcs[(i + 1) * width + j + 1] + 1
        : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  type Op = { kind: " " | "-" | "+"; text: string; ai: number; bi: number };
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: " ", text: a[i], ai: i++, bi: j++ });
    } else if (
      i < a.length && (j === b.length || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])
    ) {
      ops.push({ kind: "-", text: a[i], ai: i++, bi: j });
    } else {
      ops.push({ kind: "+", text: b[j], ai: i, bi: j++ });
    }
  }
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k].kind === " ") {
      k++;
      continue;
    }
    let start = Math.max(0, k - CONTEXT);
    let end = k;
    // Extend the hunk while changes are within 2 × CONTEXT lines of each other.
    for (let m = k; m < ops.length; m++) {
      if (ops[m].kind !== " ") end = m;
      else if (m - end > 2 * CONTEXT) break;
    }
    end = Math.min(ops.length - 1, end + CONTEXT);
    const hunk = ops.slice(start, end + 1);
    const aLen = hunk.filter((o) => o.kind !== "+").length;
    const bLen = hunk.filter((o) => o.kind !== "-").length;
    const aStart = aLen === 0 ? hunk[0].ai : hunk[0].ai + 1;
    const bStart = bLen === 0 ? hunk[0].bi : hunk[0].bi + 1;
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.text}`);
    start = end + 1;
    k = start;
  }
  return out.join("\n") + "\n";
}
