// The OpenAI- and Anthropic-compatible streaming proxy arrives with issue #6.
export {}
