import type { ChatCompletionRequest } from '@creditgate/contracts';
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

function count(text: string): number {
  // Special-token text is counted as ordinary text instead of throwing.
  return text ? getEncoder().encode(text, [], []).length : 0;
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
    if (Object.keys(rest).length > 0) total += count(JSON.stringify(rest));
  }

  if (request.tools?.length) total += count(JSON.stringify(request.tools));
  if (request.response_format) total += count(JSON.stringify(request.response_format));
  return total;
}

/** Builds the encoder ahead of the first request, so that request does not pay for it. */
export function warmUpTokenizer(): void {
  getEncoder();
}
