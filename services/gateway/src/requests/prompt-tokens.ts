import { AppError, type ChatCompletionRequest } from '@creditgate/contracts';
import { Tiktoken } from 'js-tiktoken/lite';
import o200kBase from 'js-tiktoken/ranks/o200k_base';

/**
 * Prompt token count for billing's ceiling. An over-count only holds a little more than needed;
 * an under-count makes settle burn past the hold, so everything is counted generously.
 */

/** Per-message framing tokens of the chat format, and the tokens that prime the reply. */
const TOKENS_PER_MESSAGE = 4;
const REPLY_PRIMING_TOKENS = 3;
/** A non-text content part (an image, audio): counted at a high-detail image's worst case. */
const NON_TEXT_PART_TOKENS = 1_105;

let encoder: Tiktoken | undefined;

/** The o200k_base encoder is built once per process (building it takes a few hundred ms). */
function getEncoder(): Tiktoken {
  encoder ??= new Tiktoken(o200kBase);
  return encoder;
}

/**
 * BPE merging is superlinear in the length of a run without whitespace (a few thousand
 * characters of one letter, or of CJK text, take seconds), and it runs on the event loop.
 * Such runs are counted at one token per UTF-8 byte instead: no token is shorter than a byte,
 * so this bound never under-counts, and it costs linear time whatever the input.
 */
const LONG_RUN = /\S{48,}/g;
/** Above this many characters the whole text is bounded by its byte length. */
const MAX_TOKENIZED_CHARS = 64 * 1024;

function count(text: string): number {
  if (!text) return 0;
  if (text.length > MAX_TOKENIZED_CHARS) return Buffer.byteLength(text, 'utf8');

  let bounded = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    bounded += Buffer.byteLength(run, 'utf8');
    return ' ';
  });
  // Special-token text is counted as ordinary text instead of throwing.
  return bounded + getEncoder().encode(rest, [], []).length;
}

/** JSON text of a structured field; a value nested too deeply to serialise is refused. */
function serialised(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (cause) {
    throw new AppError('invalid_request_error', 'the request is nested too deeply', { cause });
  }
}

export function countPromptTokens(
  request: Pick<ChatCompletionRequest, 'messages' | 'tools' | 'response_format'>,
): number {
  let total = REPLY_PRIMING_TOKENS;

  for (const message of request.messages) {
    total += TOKENS_PER_MESSAGE + count(message.role) + count(message.name ?? '');
    const { content, role: _role, name: _name, ...rest } = message;
    if (typeof content === 'string') {
      total += count(content);
    } else if (Array.isArray(content)) {
      for (const part of content) {
        total +=
          part.type === 'text' && typeof part.text === 'string'
            ? count(part.text)
            : NON_TEXT_PART_TOKENS;
      }
    }
    // Tool calls, tool_call_id and other fields reach the model too.
    if (Object.keys(rest).length > 0) total += count(serialised(rest));
  }

  if (request.tools?.length) total += count(serialised(request.tools));
  if (request.response_format) total += count(serialised(request.response_format));
  return total;
}

/** Builds the encoder ahead of the first request, so that request does not pay for it. */
export function warmUpTokenizer(): void {
  getEncoder();
}
