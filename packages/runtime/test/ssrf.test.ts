import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkBaseUrl,
  createGuardedFetch,
  parseAllowlist,
  SsrfError,
  type Resolver,
  type SsrfRule,
} from '../src/ssrf.js';

const none = parseAllowlist('');

/** A resolver stub: every name answers with the addresses given here. */
const resolvesTo =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses;

async function refusal(promise: Promise<unknown>): Promise<SsrfError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SsrfError);
  return error as SsrfError;
}

/** One address per refused class, as the literal the rule must catch. */
const REFUSED_V4: Array<[SsrfRule, string]> = [
  ['loopback_address', '127.0.0.1'],
  ['loopback_address', '127.255.0.9'],
  ['private_address', '10.1.2.3'],
  ['private_address', '172.16.0.1'],
  ['private_address', '172.31.255.254'],
  ['private_address', '192.168.1.1'],
  ['link_local_address', '169.254.169.254'],
  ['carrier_grade_nat_address', '100.64.0.1'],
  ['carrier_grade_nat_address', '100.127.255.254'],
  ['multicast_address', '224.0.0.1'],
  ['multicast_address', '239.255.255.250'],
  ['unspecified_address', '0.0.0.0'],
  ['broadcast_address', '255.255.255.255'],
  ['reserved_address', '192.0.2.10'],
  ['reserved_address', '240.0.0.1'],
];

const REFUSED_V6: Array<[SsrfRule, string]> = [
  ['loopback_address', '::1'],
  ['unspecified_address', '::'],
  ['unique_local_address', 'fc00::1'],
  ['unique_local_address', 'fd12:3456:789a::1'],
  ['link_local_address', 'fe80::1'],
  ['multicast_address', 'ff02::1'],
  ['private_address', 'fec0::1'],
  ['reserved_address', '2001:db8::1'],
];

/** Other IPv6 forms that carry an IPv4 address: SIIT, compatible, NAT64, 6to4, Teredo. */
const EMBEDDED: Array<[SsrfRule, string]> = [
  ['loopback_address', '::ffff:0:7f00:1'],
  ['private_address', '::10.0.0.1'],
  ['link_local_address', '64:ff9b::a9fe:a9fe'],
  ['loopback_address', '2002:7f00:1::1'],
  ['private_address', '2001:0:4136:e378:8000:63bf:f5ff:fffe'],
];

describe('checkBaseUrl', () => {
  it.each(REFUSED_V4)('refuses %s for the IPv4 literal %s', async (rule, address) => {
    expect((await refusal(checkBaseUrl(`http://${address}/v1`, none))).rule).toBe(rule);
  });

  it.each(REFUSED_V4)('refuses %s for a name resolving to %s', async (rule, address) => {
    const error = await refusal(
      checkBaseUrl('https://models.example/v1', none, resolvesTo(address)),
    );
    expect(error.rule).toBe(rule);
  });

  it.each(REFUSED_V4)('refuses %s for %s as IPv4-mapped IPv6', async (rule, address) => {
    const mapped = `::ffff:${address}`;
    expect((await refusal(checkBaseUrl(`http://[${mapped}]/v1`, none))).rule).toBe(rule);
    const viaName = checkBaseUrl('http://models.example/', none, resolvesTo(mapped));
    expect((await refusal(viaName)).rule).toBe(rule);
  });

  it.each(REFUSED_V6)('refuses %s for the IPv6 literal %s', async (rule, address) => {
    expect((await refusal(checkBaseUrl(`http://[${address}]:8000/v1`, none))).rule).toBe(rule);
  });

  it.each(REFUSED_V6)('refuses %s for a name resolving to %s', async (rule, address) => {
    const error = await refusal(checkBaseUrl('http://models.example/', none, resolvesTo(address)));
    expect(error.rule).toBe(rule);
  });

  it.each(EMBEDDED)('refuses %s for the embedded IPv4 form %s', async (rule, address) => {
    expect((await refusal(checkBaseUrl(`http://[${address}]/`, none))).rule).toBe(rule);
  });

  it('refuses shorthand and numeric spellings of loopback that URL parsing normalises', async () => {
    for (const host of ['2130706433', '0x7f.1', '127.1', '017700000001']) {
      expect((await refusal(checkBaseUrl(`http://${host}/`, none))).rule).toBe('loopback_address');
    }
  });

  it('refuses a name when any one of its addresses is internal', async () => {
    const resolve = resolvesTo('93.184.216.34', '2606:2800:220:1::1', '10.0.0.7');
    const error = await refusal(checkBaseUrl('https://models.example/', none, resolve));
    expect(error.rule).toBe('private_address');
  });

  it('accepts public addresses and returns every one of them', async () => {
    const resolve = resolvesTo('93.184.216.34', '2606:2800:220:1::1');
    const result = await checkBaseUrl('https://models.example/v1/', none, resolve);
    expect(result.addresses).toEqual(['93.184.216.34', '2606:2800:220:1::1']);
    expect(result.url.pathname).toBe('/v1/');
    await expect(checkBaseUrl('http://8.8.8.8/v1', none)).resolves.toBeTruthy();
    await expect(checkBaseUrl('http://[2606:4700::1111]/', none)).resolves.toBeTruthy();
  });

  it('refuses other schemes, credentials, garbage and names that do not resolve', async () => {
    expect((await refusal(checkBaseUrl('ftp://8.8.8.8/', none))).rule).toBe('scheme_not_allowed');
    expect((await refusal(checkBaseUrl('file:///etc/passwd', none))).rule).toBe(
      'scheme_not_allowed',
    );
    expect((await refusal(checkBaseUrl('http://u:p@8.8.8.8/', none))).rule).toBe(
      'credentials_in_url',
    );
    expect((await refusal(checkBaseUrl('http://user@8.8.8.8/', none))).rule).toBe(
      'credentials_in_url',
    );
    expect((await refusal(checkBaseUrl('not a url', none))).rule).toBe('invalid_url');
    const nxdomain: Resolver = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect((await refusal(checkBaseUrl('http://nope.invalid/', none, nxdomain))).rule).toBe(
      'unresolvable_host',
    );
    expect((await refusal(checkBaseUrl('http://empty.example/', none, resolvesTo()))).rule).toBe(
      'unresolvable_host',
    );
  });

  it('names the rule but never the refused address in the message', async () => {
    const error = await refusal(
      checkBaseUrl('http://metadata.example/', none, resolvesTo('169.254.169.254')),
    );
    expect(error.message).toContain('link_local_address');
    expect(error.message).not.toContain('169.254');
  });
});

describe('allowlist', () => {
  it('allows a host name whatever it resolves to', async () => {
    const allow = parseAllowlist('model-server, Other.Example.');
    const result = await checkBaseUrl('http://model-server:8000/v1', allow, resolvesTo('10.0.0.5'));
    expect(result.addresses).toEqual(['10.0.0.5']);
    await expect(
      checkBaseUrl('http://other.example/', allow, resolvesTo('127.0.0.1')),
    ).resolves.toBeTruthy();
    const other = checkBaseUrl('http://model-server2/', allow, resolvesTo('10.0.0.5'));
    expect((await refusal(other)).rule).toBe('private_address');
  });

  it('allows addresses inside an allowed CIDR, in every spelling', async () => {
    const allow = parseAllowlist('10.20.0.0/16,127.0.0.1,fd00::/8');
    await expect(checkBaseUrl('http://10.20.3.4/', allow)).resolves.toBeTruthy();
    await expect(checkBaseUrl('http://[::ffff:10.20.3.4]/', allow)).resolves.toBeTruthy();
    await expect(checkBaseUrl('http://127.0.0.1:8000/', allow)).resolves.toBeTruthy();
    await expect(checkBaseUrl('http://[fd00::9]/', allow)).resolves.toBeTruthy();
    await expect(
      checkBaseUrl('http://internal.example/', allow, resolvesTo('10.20.9.9')),
    ).resolves.toBeTruthy();

    expect((await refusal(checkBaseUrl('http://10.21.0.1/', allow))).rule).toBe('private_address');
    expect((await refusal(checkBaseUrl('http://127.0.0.2/', allow))).rule).toBe('loopback_address');
    expect((await refusal(checkBaseUrl('http://[fc00::1]/', allow))).rule).toBe(
      'unique_local_address',
    );
  });

  it('accepts IPv4-mapped CIDRs and rejects entries that are neither host nor CIDR', () => {
    const allow = parseAllowlist('::ffff:192.168.0.0/112');
    expect(allow.ranges[0]![0].kind()).toBe('ipv4');
    expect(allow.ranges[0]![1]).toBe(16);
    expect(() => parseAllowlist('10.0.0.0/40')).toThrow(/CIDR/);
    expect(() => parseAllowlist('bad host!')).toThrow(/neither/);
  });
});

describe('createGuardedFetch', () => {
  let server: Server;
  let port: number;
  let metadataHits = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        res.end();
        return;
      }
      if (req.url?.startsWith('/latest')) metadataHits += 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('returns a 302 to the metadata address as is and never follows it', async () => {
    const guarded = createGuardedFetch(parseAllowlist('127.0.0.1'), { connectTimeoutMs: 2_000 });
    const response = await guarded(`http://127.0.0.1:${port}/redirect`);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toContain('169.254.169.254');
    expect(metadataHits).toBe(0);
  });

  it('ignores a caller asking to follow redirects', async () => {
    const guarded = createGuardedFetch(parseAllowlist('127.0.0.1'), { connectTimeoutMs: 2_000 });
    const response = await guarded(`http://127.0.0.1:${port}/redirect`, { redirect: 'follow' });
    expect(response.status).toBe(302);
  });

  it('refuses to connect to a loopback literal that is not allowlisted', async () => {
    const guarded = createGuardedFetch(none, { connectTimeoutMs: 2_000 });
    const error = await guarded(`http://127.0.0.1:${port}/`).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.cause).toBeInstanceOf(SsrfError);
    expect((error?.cause as SsrfError).rule).toBe('loopback_address');
  });

  it('connects only to the address it checked, so a rebinding name cannot reach loopback', async () => {
    // First answer public (the check at model creation passes), then loopback at connect time.
    let calls = 0;
    const rebinding: Resolver = async () => (calls++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']);
    await expect(checkBaseUrl('http://rebind.example/', none, rebinding)).resolves.toBeTruthy();

    const guarded = createGuardedFetch(none, { connectTimeoutMs: 2_000, resolve: rebinding });
    const error = await guarded(`http://rebind.example:${port}/`).then(
      () => null,
      (e: Error) => e,
    );
    expect((error?.cause as SsrfError).rule).toBe('loopback_address');
  });

  it('connects through an allowlisted name to the address its lookup returned', async () => {
    const guarded = createGuardedFetch(parseAllowlist('local-model'), {
      connectTimeoutMs: 2_000,
      resolve: resolvesTo('127.0.0.1'),
    });
    const response = await guarded(`http://local-model:${port}/hello`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
  });
});
