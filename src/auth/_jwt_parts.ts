/**
 * Reads a compact JWS's header and payload before its signature is checked,
 * refusing what two JSON parsers could read differently: a member name that
 * appears twice in the header or the claims (`{"typ":"JWT","typ":"at+jwt"}`,
 * also when one spelling is escaped, `"\u0074yp"`). RFC 7515 §5.2 lets a
 * parser either refuse such a JWS or keep the last value; refusing is the
 * choice that leaves nothing to disagree about.
 *
 * @module
 */

/** The decoded parts of a compact JWS. */
export interface JwtParts {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a JWT's header and payload.
 *
 * @param token A token of the shape `xxx.yyy.zzz` (see `isJwtShaped`).
 * @returns The parts, or a sentence saying what is wrong with them.
 */
export function readJwtParts(token: string): JwtParts | string {
  const [headerText, payloadText] = token.split(".", 2).map(decodeSegment);
  const header = parseObject(headerText);
  const payload = parseObject(payloadText);
  if (header === undefined || payload === undefined) {
    return "Invalid token: expected a well-formed JWT";
  }
  const twice = duplicateMember(headerText!) ?? duplicateMember(payloadText!);
  if (twice !== undefined) {
    return `Invalid token: expected each header parameter and claim once, found ${
      JSON.stringify(twice)
    } twice`;
  }
  return { header, payload };
}

function decodeSegment(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    const binary = atob(segment.replaceAll("-", "+").replaceAll("_", "/"));
    return UTF8.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

function parseObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The first member name that occurs twice in the top-level object of a JSON
 * text already known to parse, compared after unescaping.
 *
 * @param json A JSON object's text.
 * @returns The repeated name, or `undefined`.
 */
export function duplicateMember(json: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  // At depth 1, a string right after `{` or `,` is a member name.
  let expectName = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      if (depth === 1 && expectName) {
        const name = JSON.parse(json.slice(i, end + 1)) as string;
        if (seen.has(name)) return name;
        seen.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === "{" || c === "[") {
      depth++;
      if (depth === 1) expectName = true;
    } else if (c === "}" || c === "]") {
      depth--;
    } else if (c === "," && depth === 1) {
      expectName = true;
    }
  }
  return undefined;
}
