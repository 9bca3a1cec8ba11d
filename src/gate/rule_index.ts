/**
 * An index of compiled rules by operation and target selector, so that a
 * policy of 1,000 rules does not try every rule for every target. It only
 * narrows the candidates: every candidate still passes the rule's own
 * `matchesOperation` and `matchesTarget`, so decisions are those of trying
 * every rule in file order (`tests/gate/rule_index_test.ts` compares both
 * over random policies).
 *
 * @module
 */
import type { Selectable } from "../config/selector.ts";

/** What the index reads of an operation: what rules' `matchesOperation` reads. */
export interface IndexedOperation {
  readonly name: string;
  readonly capability: string;
}

/** What the index needs of a compiled rule (`CompiledRule` in policy.ts; no import back). */
export interface IndexedRule<O extends IndexedOperation> {
  matchesOperation(op: O): boolean;
  matchesTarget(target: Selectable): boolean;
}

/** Most (operation, capability) pairs remembered; the catalog has a few dozen. */
const MAX_OPERATION_KEYS = 1024;

/** Finds the rules that cover an operation on a target, in file order. */
export interface RuleIndex<R, O> {
  /**
   * @param op The operation (only its name and capability are read, as rules do).
   * @param target The target.
   * @returns The rules whose operations and targets both cover the call, in file order.
   */
  matching(op: O, target: Selectable): R[];
}

/**
 * The key a selector term can be found under, or `undefined` when the term
 * must be tried on every target (an id glob, or only `*`). A term matches
 * only targets that match each of its atoms, so any one exact atom will do.
 */
function termKey(term: string): string | undefined {
  let key: string | undefined;
  for (const atom of term.split("&")) {
    if (atom.startsWith("tag:") || atom.startsWith("group:")) key ??= atom;
    else if (!/[*?]/.test(atom)) return `id:${atom}`;
  }
  return key;
}

/**
 * Builds the index for compiled rules and the selectors they were compiled from.
 *
 * @param rules Compiled rules, in file order.
 * @param selectors Each rule's target selector terms, in the same order.
 * @returns The index.
 */
export function indexRules<O extends IndexedOperation, R extends IndexedRule<O>>(
  rules: readonly R[],
  selectors: readonly (readonly string[])[],
): RuleIndex<R, O> {
  // Rules by the keys a target must have for one of the rule's include terms to match.
  const byKey = new Map<string, number[]>();
  // Rules with an include term that no key narrows: tried on every target.
  const everywhere: number[] = [];
  selectors.forEach((terms, index) => {
    const includes = terms.filter((term) => !term.startsWith("!"));
    const keys = includes.map(termKey);
    if (keys.some((key) => key === undefined)) {
      everywhere.push(index);
      return;
    }
    for (const key of new Set(keys as string[])) {
      const list = byKey.get(key);
      if (list === undefined) byKey.set(key, [index]);
      else list.push(index);
    }
  });
  // Which rules cover an (operation, capability) pair: what `matchesOperation` reads.
  const byOperation = new Map<string, Uint8Array>();
  const coversOperation = (op: O): Uint8Array => {
    const key = `${op.name}\0${op.capability}`;
    let covers = byOperation.get(key);
    if (covers === undefined) {
      if (byOperation.size >= MAX_OPERATION_KEYS) byOperation.clear();
      covers = Uint8Array.from(rules, (rule) => (rule.matchesOperation(op) ? 1 : 0));
      byOperation.set(key, covers);
    }
    return covers;
  };
  return {
    matching(op, target) {
      const covers = coversOperation(op);
      const candidates: number[] = [];
      const add = (list: readonly number[] | undefined) => {
        if (list) { for (const index of list) if (covers[index] === 1) candidates.push(index); }
      };
      add(everywhere);
      add(byKey.get(`id:${target.id}`));
      for (const tag of target.tags) add(byKey.get(`tag:${tag}`));
      for (const group of target.groups) add(byKey.get(`group:${group}`));
      candidates.sort((a, b) => a - b);
      const out: R[] = [];
      let last = -1;
      for (const index of candidates) {
        if (index === last) continue;
        last = index;
        if (rules[index].matchesTarget(target)) out.push(rules[index]);
      }
      return out;
    },
  };
}
