// A loopback OpenAI-compatible server for benchmarks, run as its own process so its work never
// shares an event loop with the load generator. POST /v1/chat/completions answers a fixed reply
// after a first-token delay: streamed as `chunks` chunks plus a usage chunk and [DONE], or as one
// chat.completion. Prints `{"port":N}` on stdout once listening.
//
//   node bench/lib/upstream.mjs --first-token-ms 0 --chunks 20 --chunk-interval-ms 0

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'first-token-ms': { type: 'string', default: '0' },
    chunks: { type: 'string', default: '20' },
    'chunk-interval-ms': { type: 'string', default: '0' },
    'prompt-tokens': { type: 'string', default: '12' },
  },
});
const firstTokenMs = Number(values['first-token-ms']);
const chunkCount = Math.max(1, Number(values.chunks));
const chunkIntervalMs = Number(values['chunk-interval-ms']);
const promptTokens = Number(values['prompt-tokens']);

const pieces = Array.from({ length: chunkCount }, (_, i) => (i === 0 ? 'token' : ` token${i}`));
const usage = {
  prompt_tokens: promptTokens,
  completion_tokens: chunkCount,
  total_tokens: promptTokens + chunkCount,
};

// Every frame is serialized once at start: the server's own cost stays near zero per request.
const streamFrames = (model) => {
  const base = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model };
  const frame = (payload) => `data: ${JSON.stringify({ ...base, ...payload })}\n\n`;
  const frames = pieces.map((content, i) =>
    frame({
      choices: [
        {
          index: 0,
          delta: i === 0 ? { role: 'assistant', content } : { content },
          finish_reason: i === pieces.length - 1 ? 'stop' : null,
        },
      ],
    }),
  );
  frames.push(frame({ choices: [], usage }), 'data: [DONE]\n\n');
  return frames;
};
const completionBody = (model) =>
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: pieces.join('') },
        finish_reason: 'stop',
      },
    ],
    usage,
  });

const cache = new Map();
function prepared(model) {
  let entry = cache.get(model);
  if (!entry) {
    entry = { frames: streamFrames(model), completion: completionBody(model) };
    cache.set(model, entry);
  }
  return entry;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const server = createServer(async (req, res) => {
  const parts = [];
  for await (const part of req) parts.push(part);
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404).end();
    return;
  }

  let body;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"malformed JSON","type":"invalid_request_error"}}');
    return;
  }
  const { frames, completion } = prepared(String(body.model ?? 'bench'));
  if (firstTokenMs > 0) await sleep(firstTokenMs);

  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(completion);
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (let i = 0; i < frames.length - 1; i++) {
    res.write(frames[i]);
    if (chunkIntervalMs > 0) await sleep(chunkIntervalMs);
  }
  res.end(frames.at(-1));
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
