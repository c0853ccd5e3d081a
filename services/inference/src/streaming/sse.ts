/**
 * A server-sent events reader that tolerates what model servers actually send: comment and
 * keep-alive lines (`: OPENROUTER PROCESSING`), `\r\n` or `\r` line ends, `data:` with or without
 * the space, empty `data:` lines, and a last event missing its blank line.
 */
export interface SseEvent {
  /** The `event:` field, or null for the default `message` type. */
  event: string | null;
  data: string;
  /** False for a last event cut off by the end of the body (no terminating blank line). */
  terminated: boolean;
}

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  let event: string | null = null;
  let data: string[] = [];

  const dispatch = (terminated: boolean): SseEvent | null => {
    if (data.length === 0) {
      event = null;
      return null;
    }
    const out = { event, data: data.join('\n'), terminated };
    event = null;
    data = [];
    return out;
  };

  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });

      let start = 0;
      for (;;) {
        const lf = buffer.indexOf('\n', start);
        const cr = buffer.indexOf('\r', start);
        const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
        if (end === -1) break;
        // A `\r` at the very end of the buffer may be the first half of `\r\n`: wait for more.
        if (end === cr && end === buffer.length - 1 && !done) break;

        const line = buffer.slice(start, end);
        start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1);

        if (line === '') {
          const out = dispatch(true);
          if (out) yield out;
        } else if (line.charCodeAt(0) !== 58 /* ':' comment */) {
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          let value = colon === -1 ? '' : line.slice(colon + 1);
          if (value.charCodeAt(0) === 32) value = value.slice(1);
          if (field === 'data') data.push(value);
          else if (field === 'event') event = value;
          // `id`, `retry` and unknown fields carry nothing a completion needs.
        }
      }
      buffer = buffer.slice(start);

      if (done) {
        if (buffer.length > 0 && buffer.startsWith('data:')) {
          let value = buffer.slice(5);
          if (value.charCodeAt(0) === 32) value = value.slice(1);
          data.push(value);
        }
        const out = dispatch(false);
        if (out) yield out;
        return;
      }
    }
  } finally {
    // Stops the download when the consumer leaves early ([DONE] seen, abort, error).
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
