// A tiny OpenAI-compatible model server for trying creditgate without a real model:
// it answers /v1/chat/completions by echoing the last user message, streamed word by word,
// with token usage. Usage: node scripts/echo-upstream.mjs [port]   (default 9100)
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? process.env.ECHO_PORT ?? 9100);

function reply(body) {
  const last = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  const text = typeof last?.content === 'string' ? last.content : 'hello';
  return `You said: ${text}`.split(/(?<= )/);
}

createServer(async (req, res) => {
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
    return;
  }
  let raw = '';
  for await (const part of req) raw += part;
  const body = JSON.parse(raw || '{}');
  const pieces = reply(body);
  const promptTokens = Math.ceil(raw.length / 4);
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: pieces.length,
    total_tokens: promptTokens + pieces.length,
  };
  const base = { id: 'chatcmpl-echo', created: Math.floor(Date.now() / 1000), model: body.model };

  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    const message = { role: 'assistant', content: pieces.join('') };
    res.end(
      JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: 'stop' }],
        usage,
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (choices, extra = {}) =>
    res.write(
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`,
    );
  send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  for (const piece of pieces) send([{ index: 0, delta: { content: piece }, finish_reason: null }]);
  send([{ index: 0, delta: {}, finish_reason: 'stop' }]);
  send([], { usage });
  res.end('data: [DONE]\n\n');
}).listen(port, '127.0.0.1', () => {
  process.stderr.write(`echo model server on http://127.0.0.1:${port}/v1\n`);
});
