import { MAX_SELECTOR_LENGTH } from './topic-selector.js'
import type { NewUpdate } from './update.js'

/** A publish request the hub refuses: HTTP status, stable code and a one-line reason. */
export class PublishError extends Error {
  constructor(
    readonly status: 400 | 413 | 415 | 429,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'PublishError'
  }
}

const SINGLE_FIELDS = ['data', 'id', 'type', 'retry', 'private'] as const
// CR, LF and every other control character: they would inject fields or confuse clients.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Parses the body of a Mercure publish, form-encoded or JSON, into an update; checks every field
 * before anything is stored, so that a refused request publishes nothing.
 */
export function parsePublishBody(contentType: string, body: Uint8Array, maxTopics = 100): NewUpdate {
  return toUpdate(checkMediaType(contentType) === 'form' ? parseForm(body) : parseJson(body), maxTopics)
}

/** The two encodings a publisher may use; anything else is refused before the body is read. */
export function checkMediaType(contentType: string): 'form' | 'json' {
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase()
  if (mediaType === 'application/x-www-form-urlencoded') return 'form'
  if (mediaType === 'application/json') return 'json'
  throw new PublishError(
    415,
    'SG_ERR_UNSUPPORTED_MEDIA_TYPE',
    `publish as application/x-www-form-urlencoded or application/json, not ${mediaType || 'no content type'}`,
  )
}

type Fields = Map<string, string[]>

function parseForm(body: Uint8Array): Fields {
  const text = decodeUtf8(body)
  const fields: Fields = new Map()
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const equals = pair.indexOf('=')
    const name = percentDecode(equals === -1 ? pair : pair.slice(0, equals))
    const value = percentDecode(equals === -1 ? '' : pair.slice(equals + 1))
    // Appended in place: copying the list for each field made a body of repeated fields quadratic
    // (120 KB of `topic=` froze the event loop for 11 s).
    const values = fields.get(name)
    if (values === undefined) fields.set(name, [value])
    else values.push(value)
  }
  return fields
}

function parseJson(body: Uint8Array): Fields {
  let parsed: unknown
  try {
    parsed = JSON.parse(decodeUtf8(body))
  } catch (error) {
    if (error instanceof PublishError) throw error
    throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'the body is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'the JSON body must be an object')
  }
  const fields: Fields = new Map()
  for (const [name, value] of Object.entries(parsed)) {
    // JSON can spell half a surrogate pair (`"\ud800"`), which no UTF-8 byte sequence is.
    if ([value].flat().some((item) => typeof item === 'string' && LONE_SURROGATE.test(item)))
      throw new PublishError(
        400,
        'SG_ERR_BAD_REQUEST',
        `the field ${name} is not valid Unicode (a lone surrogate)`,
      )
    if (name === 'topic' && Array.isArray(value)) {
      if (!value.every((topic) => typeof topic === 'string')) {
        throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'every topic must be a string')
      }
      fields.set(name, value as string[])
    } else if (name === 'private' && typeof value === 'boolean') {
      if (value) fields.set(name, ['on'])
    } else if (name === 'retry' && typeof value === 'number') {
      fields.set(name, [String(value)])
    } else if (typeof value === 'string') {
      fields.set(name, [value])
    } else if (value !== null && value !== undefined) {
      throw new PublishError(400, 'SG_ERR_BAD_REQUEST', `the field ${name} must be a string`)
    }
  }
  return fields
}

function toUpdate(fields: Fields, maxTopics: number): NewUpdate {
  for (const name of SINGLE_FIELDS) {
    if ((fields.get(name)?.length ?? 0) > 1) {
      throw new PublishError(400, 'SG_ERR_BAD_REQUEST', `the field ${name} may appear only once`)
    }
  }
  const topics = fields.get('topic') ?? []
  if (topics.length === 0 || topics.some((topic) => topic === '')) {
    throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'at least one non-empty topic is required')
  }
  // No selector could name a longer topic exactly, and patterns run through every character.
  if (topics.some((topic) => topic.length > MAX_SELECTOR_LENGTH)) {
    throw new PublishError(
      400,
      'SG_ERR_BAD_REQUEST',
      `a topic is at most ${MAX_SELECTOR_LENGTH} characters, as a topic selector is`,
    )
  }
  // Every topic is matched against every subscriber's selectors: the work of one publish is bounded.
  if (topics.length > maxTopics) {
    throw new PublishError(
      400,
      'SG_ERR_TOO_MANY_TOPICS',
      `at most ${maxTopics} topics per update (--max-topics); this one has ${topics.length}`,
    )
  }
  const single = (name: (typeof SINGLE_FIELDS)[number]) => fields.get(name)?.[0]
  for (const [name, values] of [
    ['topic', topics],
    ['id', [single('id')]],
    ['type', [single('type')]],
  ] as const) {
    if (values.some((value) => value !== undefined && CONTROL.test(value))) {
      throw new PublishError(
        400,
        'SG_ERR_BAD_REQUEST',
        `the field ${name} must not contain control characters`,
      )
    }
  }
  const retry = single('retry')
  if (retry !== undefined && !/^\d{1,10}$/.test(retry)) {
    throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'retry must be a whole number of milliseconds')
  }
  const id = single('id')
  if (id === '') throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'id must not be empty')
  return {
    topics,
    data: single('data') ?? '',
    id,
    type: single('type') || undefined,
    retry: retry === undefined ? undefined : Number(retry),
    private: fields.has('private'),
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw new PublishError(400, 'SG_ERR_BAD_REQUEST', 'the body is not valid UTF-8')
  }
}

/** `+` is a space; %XX runs must form valid UTF-8 (URLSearchParams would silently use U+FFFD). */
function percentDecode(text: string): string {
  return text
    .replaceAll('+', ' ')
    .replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
      decodeUtf8(Uint8Array.from(run.slice(1).split('%'), (hex) => Number.parseInt(hex, 16))),
    )
}
