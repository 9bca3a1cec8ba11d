/**
 * The target registry: validated targets by id, frozen after load.
 *
 * @module
 */
import { compileSelector } from "./selector.ts";
import type { Target } from "./targets_schema.ts";

/** The loaded, immutable set of targets. */
export class Registry {
  /** Every target, in file order. */
  readonly targets: readonly Target[];
  readonly #byId: ReadonlyMap<string, Target>;

  /**
   * @param targets Validated targets with resolved secrets; ids must be unique.
   */
  constructor(targets: readonly Target[]) {
    this.targets = Object.freeze([...targets]);
    this.#byId = new Map(targets.map((t) => [t.id, t]));
    Object.freeze(this);
  }

  /**
   * Looks up a target by id.
   *
   * @param id Target id.
   * @returns The target, or `undefined` when there is none.
   */
  get(id: string): Target | undefined {
    return this.#byId.get(id);
  }

  /**
   * Resolves selector terms to targets, in registry order.
   *
   * @param terms Validated selector terms.
   * @returns The selected targets; may be empty.
   */
  select(terms: readonly string[]): Target[] {
    const matches = compileSelector(terms);
    return this.targets.filter(matches);
  }
}
