/**
 * The YAML 1.2 core schema (spec 1.2.2, section 10.3) for js-yaml 4, whose
 * own `CORE_SCHEMA` is its JSON schema with YAML 1.1 numbers (`1_000`,
 * `0b101`, `-0x1F`) that the `yaml` package, and YAML 1.2, read as strings.
 * With this schema both parsers give a configuration file the same value.
 *
 * @module
 */
// @ts-types="@types/js-yaml"
import { FAILSAFE_SCHEMA, type Schema, Type } from "js-yaml";

const NULL = /^(?:~|null|Null|NULL)$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const INT = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const FLOAT =
  /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

function number(text: string): number {
  if (text.startsWith("0o")) return parseInt(text.slice(2), 8);
  if (text.startsWith("0x")) return parseInt(text.slice(2), 16);
  const special = text.replace(/^[-+]/, "").toLowerCase();
  if (special === ".inf") return text.startsWith("-") ? -Infinity : Infinity;
  if (special === ".nan") return NaN;
  return Number(text);
}

/** Plain scalars as YAML 1.2's core schema resolves them; everything else a string. */
export const YAML12_CORE_SCHEMA: Schema = FAILSAFE_SCHEMA.extend({
  implicit: [
    new Type("tag:yaml.org,2002:null", {
      kind: "scalar",
      // js-yaml asks with `null` for an empty node.
      resolve: (data: string | null) => data === null || NULL.test(data),
      construct: () => null,
    }),
    new Type("tag:yaml.org,2002:bool", {
      kind: "scalar",
      resolve: (data: string | null) => data !== null && BOOL.test(data),
      construct: (data: string) => data.toLowerCase() === "true",
    }),
    new Type("tag:yaml.org,2002:int", {
      kind: "scalar",
      resolve: (data: string | null) => data !== null && INT.test(data),
      construct: number,
    }),
    new Type("tag:yaml.org,2002:float", {
      kind: "scalar",
      resolve: (data: string | null) => data !== null && FLOAT.test(data),
      construct: number,
    }),
  ],
});
