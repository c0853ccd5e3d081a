import type { OpenAiUsage } from '@creditgate/contracts';

/** The subset of an OpenAI chat completion chunk the aggregation reads; other fields are ignored. */
export interface ChunkDelta {
  content?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  refusal?: string | null;
  tool_calls?: Array<{
    index?: number;
    id?: string;
    type?: string;
    function?: { name?: string; arguments?: string };
  }>;
}

/**
 * An OpenAI `chat.completion.chunk` as the worker serialized it. Only the fields the gateway
 * reads are typed; any others (usage, system_fingerprint, provider extras) pass through as-is.
 */
export interface ChatCompletionChunk {
  id?: string;
  object?: string;
  created?: number;
  model?: string;
  choices?: Array<{ index?: number; delta?: ChunkDelta; finish_reason?: string | null }>;
}

export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
}

export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  reasoning_content?: string;
  refusal?: string;
  tool_calls?: ToolCall[];
}

/**
 * Folds streamed chunks into the single `chat.completion` a non-streaming client expects:
 * content and reasoning concatenated, tool calls merged by their index, the last finish reason.
 */
export class CompletionAggregator {
  private content = '';
  private sawContent = false;
  private reasoning = '';
  private refusal = '';
  private readonly toolCalls = new Map<number, ToolCall>();
  finishReason: string | null = null;

  add(data: string): void {
    const chunk = JSON.parse(data) as ChatCompletionChunk;
    for (const choice of chunk.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue;
      if (choice.finish_reason) this.finishReason = choice.finish_reason;

      const delta = choice.delta ?? {};
      if (typeof delta.content === 'string') {
        this.content += delta.content;
        this.sawContent = true;
      }
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string') this.reasoning += reasoning;
      if (typeof delta.refusal === 'string') this.refusal += delta.refusal;
      for (const call of delta.tool_calls ?? []) this.mergeToolCall(call);
    }
  }

  private mergeToolCall(call: NonNullable<ChunkDelta['tool_calls']>[number]): void {
    const index = call.index ?? 0;
    const current = this.toolCalls.get(index) ?? {
      id: '',
      type: 'function',
      function: { name: '', arguments: '' },
    };
    if (call.id) current.id = call.id;
    if (call.type) current.type = call.type;
    if (call.function?.name) current.function.name += call.function.name;
    if (call.function?.arguments) current.function.arguments += call.function.arguments;
    this.toolCalls.set(index, current);
  }

  message(): AssistantMessage {
    const message: AssistantMessage = {
      role: 'assistant',
      content: this.sawContent || this.toolCalls.size === 0 ? this.content : null,
    };
    if (this.reasoning) message.reasoning_content = this.reasoning;
    if (this.refusal) message.refusal = this.refusal;
    if (this.toolCalls.size > 0) {
      message.tool_calls = [...this.toolCalls.entries()]
        .sort(([a], [b]) => a - b)
        .map(([, call]) => call);
    }
    return message;
  }

  completion(
    meta: { id: string; model: string; created: number },
    finishReason: string | null,
    usage: OpenAiUsage,
  ) {
    return {
      id: meta.id,
      object: 'chat.completion' as const,
      created: meta.created,
      model: meta.model,
      choices: [
        { index: 0, message: this.message(), finish_reason: finishReason ?? this.finishReason },
      ],
      usage,
    };
  }
}
