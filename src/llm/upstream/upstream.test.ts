import { describe, expect, it } from 'vitest'
import { isAzure } from './upstream.js'

describe('isAzure', () => {
  it.each([
    ['https://my-resource.openai.azure.com/openai/deployments/gpt-4o?api-version=2024-10-21', true],
    ['https://my-resource.openai.azure.com/openai/v1', true],
    ['https://my-resource.cognitiveservices.azure.com/openai/v1', true],
    ['https://my-project.services.ai.azure.com/models', true],
    ['http://127.0.0.1:8000/openai/deployments/x?api-version=2024-10-21', true],
    ['https://api.openai.com/v1', false],
    ['https://openai.azure.com.example.org/v1', false],
    ['http://localhost:11434/v1', false],
  ])('%s → %s', (url, expected) => {
    expect(isAzure(new URL(url))).toBe(expected)
  })
})
