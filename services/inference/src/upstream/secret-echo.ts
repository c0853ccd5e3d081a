/**
 * Whether a text repeats any part of a secret the request carried, in any form a hostile or
 * careless upstream might echo it: verbatim or in part (any 8 characters in a row), spaced out,
 * upper-cased, URL-encoded, base64 (standard or URL-safe, at any alignment) or hex. Comparison
 * ignores case and everything but letters and digits, so separators cannot hide a fragment.
 *
 * A text that echoes a secret is never shown, not even with the fragment cut out: what remains
 * around a fragment can still narrow the key down.
 */

/** Shortest run of a key's characters that counts as an echo of it. */
const KEY_WINDOW = 8;
/** The same run, base64-encoded: 8 bytes fix the first 10 characters of their encoding. */
const BASE64_WINDOW = 10;
/** The same run, hex-encoded. */
const HEX_WINDOW = 16;

/** Upstream messages are read this far; nothing past it can reach what is shown. */
const MAX_SCANNED = 4_000;

function normalize(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '');
}

/** Decodes %XX escapes where they are valid, leaving the rest as it was. */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Every run of `size` characters of `text`. */
function windows(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + size <= text.length; i++) out.push(text.slice(i, i + size));
  return out;
}

/** The normalized forms of a secret to look for, each with the window size that counts. */
function forms(secret: string): Array<{ text: string; size: number }> {
  const bytes = Buffer.from(secret, 'utf8');
  const out = [
    { text: normalize(secret), size: KEY_WINDOW },
    { text: normalize(bytes.toString('hex')), size: HEX_WINDOW },
  ];
  // A fragment encoded on its own lines up with the whole key's encoding at one of 3 offsets.
  for (let offset = 0; offset < 3 && offset < bytes.length; offset++) {
    const encoded = bytes.subarray(offset).toString('base64').replace(/=+$/, '');
    out.push({ text: normalize(encoded), size: BASE64_WINDOW });
  }
  return out;
}

export function echoesSecret(text: string, secrets: readonly string[]): boolean {
  const scanned = text.slice(0, MAX_SCANNED);
  const haystacks = [normalize(scanned), normalize(percentDecoded(scanned))];
  // The text's own runs, by size, so each of the secret's runs is one lookup.
  const runs = new Map<number, Set<string>>();
  const runsOf = (size: number) => {
    let set = runs.get(size);
    if (!set) {
      set = new Set(haystacks.flatMap((haystack) => windows(haystack, size)));
      runs.set(size, set);
    }
    return set;
  };

  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of forms(secret)) {
      if (!form.text) continue;
      // A key shorter than a window counts as echoed wherever it appears whole.
      if (form.text.length <= form.size) {
        if (haystacks.some((haystack) => haystack.includes(form.text))) return true;
        continue;
      }
      const seen = runsOf(form.size);
      for (const window of windows(form.text, form.size)) if (seen.has(window)) return true;
    }
  }
  return false;
}
