/**
 * The HTTP worker's address guard: which addresses are public. Parsing lives
 * in `src/config/ip_range.ts`, shared with policy limits.
 *
 * @module
 */
import { inRange, type IpAddress, parseCidr } from "../../config/ip_range.ts";

export {
  inRange,
  type IpAddress,
  type IpRange,
  parseCidr,
  parseIp,
} from "../../config/ip_range.ts";

/**
 * Special-purpose ranges (IANA registries): loopback, private, shared
 * (CGNAT/Tailscale), link-local (cloud metadata), documentation, benchmark,
 * multicast, reserved, unique-local, NAT64, 6to4, Teredo.
 */
const SPECIAL = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
  "::/127",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "100::/64",
  "2001::/23",
  "2001:db8::/32",
  "2002::/16",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
].map((cidr) => parseCidr(cidr)!);

/**
 * Whether an address is globally routable unicast: outside every
 * special-purpose range (loopback, private, link-local, CGNAT, …).
 *
 * @param ip The address.
 * @returns `true` for a public address.
 */
export function isPublicAddress(ip: IpAddress): boolean {
  return !SPECIAL.some((range) => inRange(range, ip));
}
