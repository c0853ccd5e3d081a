/**
 * The text of an answer as an estimate would count it: content (tool call names and arguments
 * included) and reasoning, collected delta by delta from OpenAI-shaped chunks.
 */
export class AnswerText {
  private readonly contentParts: string[] = [];
  private readonly reasoningParts: string[] = [];

  /** Adds one choice's delta. */
  add(delta: Record<string, unknown> | null | undefined): void {
    if (!delta) return;
    if (typeof delta.content === 'string') this.contentParts.push(delta.content);
    // Servers use one name or the other (vLLM and DeepSeek the first, OpenRouter and Ollama
    // the second); a delta carrying both repeats the same text.
    if (typeof delta.reasoning_content === 'string')
      this.reasoningParts.push(delta.reasoning_content);
    else if (typeof delta.reasoning === 'string') this.reasoningParts.push(delta.reasoning);
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls as Array<{
        function?: { name?: unknown; arguments?: unknown };
      }>) {
        if (typeof call?.function?.name === 'string') this.contentParts.push(call.function.name);
        if (typeof call?.function?.arguments === 'string')
          this.contentParts.push(call.function.arguments);
      }
    }
  }

  /** Adds every choice of a serialized or parsed chunk. */
  addChunk(chunk: { choices?: unknown }): void {
    if (!Array.isArray(chunk.choices)) return;
    for (const choice of chunk.choices as Array<{ delta?: Record<string, unknown> } | null>) {
      this.add(choice?.delta);
    }
  }

  get content(): string {
    return this.contentParts.join('');
  }

  get reasoning(): string {
    return this.reasoningParts.join('');
  }
}
