/**
 * IP address literals and CIDR ranges: the HTTP worker's address guard and
 * policy limits on diagnostic destinations (`cidrs`). Pure functions; no
 * Deno APIs.
 *
 * @module
 */

/** An IPv4 or IPv6 address as a number (IPv4-mapped IPv6 addresses become IPv4). */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** An address range. */
export interface IpRange {
  readonly family: 4 | 6;
  readonly value: bigint;
  readonly bits: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(text: string): bigint | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) {
    return undefined;
  }
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n);
}

function parseV6(text: string): bigint | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  let normal: string;
  try {
    // The WHATWG URL parser validates IPv6 and rewrites embedded IPv4 as hex groups.
    normal = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head, tail] = normal.includes("::") ? normal.split("::") : [normal, undefined];
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const fill = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  const groups = [...left, ...fill, ...right];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const MAPPED_PREFIX = 0xffffn << 32n;

/**
 * Parses an IP address literal (IPv6 with or without brackets).
 *
 * @param text The literal.
 * @returns The address, or `undefined` when the text is not an IP literal.
 */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseV6(text.replace(/^\[(.*)\]$/, "$1"));
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 - MAPPED_PREFIX };
  return { family: 6, value: v6 };
}

/**
 * Parses a CIDR range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a
 * single-address range.
 *
 * @param text The range.
 * @returns The range, or `undefined` when the text is not a valid range.
 */
export function parseCidr(text: string): IpRange | undefined {
  const [addr, prefix, extra] = text.split("/");
  if (extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  // A mapped IPv6 range (`::ffff:a.b.c.d/104`) counts its bits from the IPv4 part.
  const mapped = ip.family === 4 && parseV4(addr) === undefined;
  const bits = prefix === undefined ? width : Number(prefix) - (mapped ? 96 : 0);
  if (bits < 0 || bits > width) return undefined;
  const shift = BigInt(width - bits);
  return { family: ip.family, value: (ip.value >> shift) << shift, bits };
}

/**
 * Whether an address lies in a range.
 *
 * @param range The range.
 * @param ip The address.
 * @returns `true` when the address is inside the range.
 */
export function inRange(range: IpRange, ip: IpAddress): boolean {
  if (range.family !== ip.family) return false;
  const shift = BigInt((ip.family === 4 ? 32 : 128) - range.bits);
  return (ip.value >> shift) === (range.value >> shift);
}
