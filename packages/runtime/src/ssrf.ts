import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';

/**
 * Guard for outbound calls to URLs that users type in (custom endpoints).
 *
 * A URL passes when it is http(s) without credentials and every address its host resolves to is
 * a public unicast address, unless the operator allowlisted the host name or a CIDR holding the
 * address. The same check runs inside the connection's DNS lookup, and the socket connects only
 * to an address that passed it, so a name cannot resolve to a public address at check time and
 * to 127.0.0.1 at connect time.
 */

export type SsrfRule =
  | 'invalid_url'
  | 'scheme_not_allowed'
  | 'credentials_in_url'
  | 'unresolvable_host'
  | 'loopback_address'
  | 'private_address'
  | 'link_local_address'
  | 'carrier_grade_nat_address'
  | 'unique_local_address'
  | 'multicast_address'
  | 'unspecified_address'
  | 'broadcast_address'
  | 'reserved_address';

const RULE_TEXT: Record<SsrfRule, string> = {
  invalid_url: 'the URL cannot be parsed',
  scheme_not_allowed: 'only http and https URLs are allowed',
  credentials_in_url: 'the URL must not carry a user name or password',
  unresolvable_host: 'the host name does not resolve',
  loopback_address: 'the host resolves to a loopback address',
  private_address: 'the host resolves to a private network address',
  link_local_address: 'the host resolves to a link-local address',
  carrier_grade_nat_address: 'the host resolves to a carrier-grade NAT address',
  unique_local_address: 'the host resolves to a unique-local IPv6 address',
  multicast_address: 'the host resolves to a multicast address',
  unspecified_address: 'the host resolves to an unspecified address',
  broadcast_address: 'the host resolves to a broadcast address',
  reserved_address: 'the host resolves to a reserved address',
};

/** A refused URL. The message names the rule, never the address that was refused. */
export class SsrfError extends Error {
  override readonly name = 'SsrfError';

  constructor(readonly rule: SsrfRule) {
    super(`address refused by ${rule}: ${RULE_TEXT[rule]}`);
  }
}

export interface Allowlist {
  /** Lower-case host names allowed whatever they resolve to. */
  hosts: ReadonlySet<string>;
  /** Address ranges allowed even when they fall in a refused class. */
  ranges: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
}

/**
 * Parses `CUSTOM_ENDPOINT_ALLOW`: comma-separated host names, IP literals and CIDRs, for example
 * `127.0.0.1,10.0.0.0/8,model-server`. Throws on an entry that is neither.
 */
export function parseAllowlist(text: string): Allowlist {
  const hosts = new Set<string>();
  const ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];

  for (const raw of text.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;

    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`allowlist entry "${entry}" is not a CIDR`);
      const [addr, bits] = ipaddr.parseCIDR(entry);
      ranges.push([normalise(addr), addr.kind() === 'ipv6' && isMapped(addr) ? bits - 96 : bits]);
    } else if (ipaddr.isValid(stripBrackets(entry))) {
      const addr = normalise(ipaddr.parse(stripBrackets(entry)));
      ranges.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(entry)) {
      hosts.add(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`allowlist entry "${entry}" is neither a host name, an address nor a CIDR`);
    }
  }
  return { hosts, ranges };
}

export type Resolver = (host: string) => Promise<string[]>;

/** Every A and AAAA address of `host`, as the system resolver answers it. */
export const systemResolve: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(addresses.map((a) => a.address));
    });
  });

/**
 * Validates a custom endpoint's base URL: scheme, credentials, and every resolved address.
 * Resolves to the parsed URL and the addresses that passed.
 */
export async function checkBaseUrl(
  url: string,
  allow: Allowlist,
  resolve: Resolver = systemResolve,
): Promise<{ url: URL; addresses: string[] }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SsrfError('invalid_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SsrfError('scheme_not_allowed');
  }
  if (parsed.username || parsed.password) throw new SsrfError('credentials_in_url');

  const addresses = await resolveChecked(stripBrackets(parsed.hostname), allow, resolve);
  return { url: parsed, addresses };
}

/** Resolves `host` (or takes it as is when it is an IP literal) and checks every address. */
async function resolveChecked(host: string, allow: Allowlist, resolve: Resolver) {
  if (!host) throw new SsrfError('unresolvable_host');
  const hostAllowed = allow.hosts.has(host.toLowerCase().replace(/\.$/, ''));

  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new SsrfError('unresolvable_host');
    }
    if (addresses.length === 0) throw new SsrfError('unresolvable_host');
  }

  if (hostAllowed) return addresses;
  for (const address of addresses) assertAddressAllowed(address, allow);
  return addresses;
}

/** Throws the rule an address breaks, unless it is public unicast or in an allowlisted range. */
export function assertAddressAllowed(address: string, allow: Allowlist): void {
  if (!ipaddr.isValid(address)) throw new SsrfError('unresolvable_host');
  const addr = normalise(ipaddr.parse(address));
  if (allow.ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) {
    return;
  }
  const rule = refusedRule(addr);
  if (rule) throw new SsrfError(rule);
}

/** The refused class of an address, or null when it is an ordinary public address. */
export function refusedRule(addr: ipaddr.IPv4 | ipaddr.IPv6): SsrfRule | null {
  if (addr.kind() === 'ipv4') return ipv4Rule(addr as ipaddr.IPv4);

  const v6 = addr as ipaddr.IPv6;
  const embedded = embeddedIPv4(v6);
  if (embedded) return ipv4Rule(embedded);
  return ipv6Rule(v6);
}

function ipv4Rule(addr: ipaddr.IPv4): SsrfRule | null {
  const range = addr.range();
  switch (range) {
    case 'unicast':
      return null;
    case 'loopback':
      return 'loopback_address';
    case 'private':
      return 'private_address';
    case 'linkLocal':
      return 'link_local_address';
    case 'carrierGradeNat':
      return 'carrier_grade_nat_address';
    case 'multicast':
      return 'multicast_address';
    case 'unspecified':
      return 'unspecified_address';
    case 'broadcast':
      return 'broadcast_address';
    default:
      // reserved, documentation, benchmarking, as112, amt and any range a later ipaddr.js adds:
      // none of them is where a model server lives, so refusing them is the safe reading.
      return 'reserved_address';
  }
}

function ipv6Rule(addr: ipaddr.IPv6): SsrfRule | null {
  // The bundled typings list fewer ranges than ipaddr.js returns, hence the widening.
  const range: string = addr.range();
  switch (range) {
    case 'unicast':
      return null;
    case 'loopback':
      return 'loopback_address';
    case 'uniqueLocal':
      return 'unique_local_address';
    case 'linkLocal':
      return 'link_local_address';
    case 'deprecatedSiteLocal':
      // fec0::/10 was the old private range; some stacks still route it internally.
      return 'private_address';
    case 'multicast':
      return 'multicast_address';
    case 'unspecified':
      return 'unspecified_address';
    default:
      return 'reserved_address';
  }
}

/**
 * The IPv4 address an IPv6 address carries, for every form that can deliver a packet to that
 * IPv4 host: mapped (::ffff:a.b.c.d), the SIIT form (::ffff:0:a.b.c.d), the deprecated
 * compatible form (::a.b.c.d), NAT64 (64:ff9b::/96 and 64:ff9b:1::/48), 6to4 (2002::/16) and
 * Teredo (2001::/32, client address stored inverted).
 */
function embeddedIPv4(addr: ipaddr.IPv6): ipaddr.IPv4 | null {
  const p = addr.parts;
  const last32 = () => fromWords(p[6]!, p[7]!);

  if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0) {
    if (p[4] === 0 && p[5] === 0xffff) return last32();
    if (p[4] === 0xffff && p[5] === 0) return last32();
    // ::/96 compatible form; :: and ::1 stay IPv6 (unspecified and loopback).
    if (p[4] === 0 && p[5] === 0 && (p[6] !== 0 || (p[7] ?? 0) > 1)) return last32();
  }
  if (p[0] === 0x64 && p[1] === 0xff9b) return last32();
  if (p[0] === 0x2002) return fromWords(p[1]!, p[2]!);
  if (p[0] === 0x2001 && p[1] === 0) return fromWords(p[6]! ^ 0xffff, p[7]! ^ 0xffff);
  return null;
}

function fromWords(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function isMapped(addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress();
}

/** IPv4-mapped IPv6 becomes plain IPv4 so allowlist ranges and rules apply to one form. */
function normalise(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return isMapped(addr) ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export interface GuardedFetchOptions {
  connectTimeoutMs: number;
  /** Injected in tests; the system resolver otherwise. */
  resolve?: Resolver;
  /** Keep-alive connections per origin; undici's default is unbounded. */
  connections?: number;
}

type LookupCallback = (
  error: Error | null,
  address: string | Array<{ address: string; family: number }>,
  family?: number,
) => void;

/**
 * A `fetch` whose connections pass the SSRF guard at connect time and never follow redirects
 * (a 3xx reaches the caller as is, which treats it as an upstream error). One undici Agent
 * backs every call, so keep-alive connections are shared.
 */
export function createGuardedFetch(allow: Allowlist, opts: GuardedFetchOptions): typeof fetch {
  const resolve = opts.resolve ?? systemResolve;

  // net.connect calls `lookup` for every host name, and hands the socket only the addresses
  // the callback returns: those are exactly the addresses that were just checked.
  const lookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    resolveChecked(hostname, allow, resolve).then(
      (addresses) => {
        const entries = addresses.map((address) => ({ address, family: isIP(address) }));
        if (options.all) callback(null, entries);
        else callback(null, entries[0]!.address, entries[0]!.family);
      },
      (error: Error) => callback(error, ''),
    );
  };
  const base = buildConnector({
    timeout: opts.connectTimeoutMs,
    lookup,
  } as buildConnector.BuildOptions);

  // net.connect skips `lookup` for IP literals, so those are checked here before connecting.
  const connect: buildConnector.connector = (options, callback) => {
    if (isIP(options.hostname)) {
      try {
        assertAddressAllowed(options.hostname, allow);
      } catch (error) {
        callback(error as Error, null);
        return;
      }
    }
    base(options, callback);
  };

  const agent = new Agent({ connect, connections: opts.connections ?? null });

  const guarded = (
    input: Parameters<typeof undiciFetch>[0],
    init?: Parameters<typeof undiciFetch>[1],
  ) => undiciFetch(input, { ...init, redirect: 'manual', dispatcher: agent });
  return guarded as unknown as typeof fetch;
}
