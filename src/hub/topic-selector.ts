/**
 * Topic selectors: which topics a subscriber (or a JWT's claim) asks for. Patterns come from
 * untrusted clients, so they are never compiled to regular expressions (a crafted one could
 * backtrack for minutes): they become a small automaton that a topic runs through once, in
 * O(topic length × pattern length) with both lengths bounded.
 */
export type TopicSelector =
  | { kind: 'any' }
  | { kind: 'exact'; topic: string }
  | { kind: 'pattern'; source: string; elements: readonly PatternElement[] }

/** One character of literal text, or a run of any characters (`segment`: not crossing / ? #). */
type PatternElement = { char: number } | { star: 'any' | 'segment' }

export const MAX_SELECTOR_LENGTH = 1024

const SLASH = 47
const QUESTION = 63
const HASH = 35
/** Any one character of a segment (the first character of a `:name`). */
const SEGMENT_CHAR = -1

export class SelectorError extends Error {
  readonly code = 'SG_ERR_BAD_SELECTOR'
}

/** `*`, or an exact topic (Mercure `match=`; also a claim's plain entry). */
export function exactSelector(value: string): TopicSelector {
  checkLength(value)
  return value === '*' ? { kind: 'any' } : { kind: 'exact', topic: value }
}

/**
 * An RFC 6570 URI template (the 0.x `topic=` parameter): `{var}`, `{.var}` and `{;var}` match a run
 * of characters within one path segment, `{/var}` a slash and a segment, `{+var}` and `{#var}` any
 * characters, `{?var}` and `{&var}` a query part. A value without braces is an exact topic.
 */
export function uriTemplateSelector(value: string): TopicSelector {
  checkLength(value)
  if (value === '*') return { kind: 'any' }
  if (!value.includes('{')) return { kind: 'exact', topic: value }
  const elements: PatternElement[] = []
  let index = 0
  while (index < value.length) {
    const open = value.indexOf('{', index)
    const literalEnd = open === -1 ? value.length : open
    pushLiteral(elements, value.slice(index, literalEnd))
    if (open === -1) break
    const close = value.indexOf('}', open)
    if (close === -1) throw new SelectorError(`unclosed "{" in URI template ${JSON.stringify(value)}`)
    const expression = value.slice(open + 1, close)
    const operator = /^[+#./;?&]/.test(expression) ? expression[0] : ''
    if (!/^[+#./;?&]?[A-Za-z0-9_.%,:*]+$/.test(expression)) {
      throw new SelectorError(`invalid expression {${expression}} in URI template`)
    }
    switch (operator) {
      case '+':
      case '#':
        if (operator === '#') pushLiteral(elements, '#')
        elements.push({ star: 'any' })
        break
      case '/':
      case '.':
      case ';':
      case '?':
      case '&':
        pushLiteral(elements, operator)
        elements.push({ star: operator === '?' || operator === '&' ? 'any' : 'segment' })
        break
      default:
        elements.push({ star: 'segment' })
    }
    index = close + 1
  }
  return { kind: 'pattern', source: value, elements }
}

/**
 * A WHATWG URL Pattern (`match_urlpattern=`), in the subset that needs no regular expression:
 * literal text, `:name` (one or more characters within a path segment) and `*` (any characters).
 * Regular expression groups `(...)`, modifiers and `{...}` groups are refused with a reason.
 */
export function urlPatternSelector(value: string): TopicSelector {
  checkLength(value)
  if (value === '*') return { kind: 'any' }
  const elements: PatternElement[] = []
  let index = 0
  while (index < value.length) {
    const char = value[index] as string
    if (char === '\\' && index + 1 < value.length) {
      pushLiteral(elements, value[index + 1] as string)
      index += 2
    } else if (char === ':' && /[A-Za-z_]/.test(value[index + 1] ?? '')) {
      index++
      while (index < value.length && /[A-Za-z0-9_]/.test(value[index] as string)) index++
      const next = value[index]
      if (next !== undefined && '?+*'.includes(next)) {
        throw new SelectorError('URL pattern modifiers (?, +, *) after a name are not supported')
      }
      // One or more characters of a segment.
      elements.push({ char: SEGMENT_CHAR }, { star: 'segment' })
    } else if (char === '*') {
      elements.push({ star: 'any' })
      index++
    } else if (char === '(' || char === '{') {
      throw new SelectorError(
        'URL pattern groups "(...)" and "{...}" are not supported: patterns are matched in linear time',
      )
    } else {
      pushLiteral(elements, char)
      index++
    }
  }
  return { kind: 'pattern', source: value, elements }
}

/** The selector as the subscriber wrote it. */
export function selectorSource(selector: TopicSelector): string {
  switch (selector.kind) {
    case 'any':
      return '*'
    case 'exact':
      return selector.topic
    case 'pattern':
      return selector.source
  }
}

export function selectorMatches(selector: TopicSelector, topic: string): boolean {
  switch (selector.kind) {
    case 'any':
      return true
    case 'exact':
      return selector.topic === topic
    case 'pattern':
      return runPattern(selector.elements, topic)
  }
}

/** Thompson simulation: the set of pattern positions reachable after each character. */
function runPattern(elements: readonly PatternElement[], topic: string): boolean {
  const size = elements.length + 1
  let current = new Uint8Array(size)
  let next = new Uint8Array(size)
  current[0] = 1
  closeOverStars(elements, current)
  for (let index = 0; index < topic.length; index++) {
    const code = topic.charCodeAt(index)
    const inSegment = code !== SLASH && code !== QUESTION && code !== HASH
    next.fill(0)
    let alive = false
    for (let state = 0; state < elements.length; state++) {
      if (current[state] === 0) continue
      const element = elements[state] as PatternElement
      if ('star' in element) {
        if (element.star === 'any' || inSegment) {
          next[state] = 1
          alive = true
        }
      } else if (element.char === code || (element.char === SEGMENT_CHAR && inSegment)) {
        next[state + 1] = 1
        alive = true
      }
    }
    if (!alive) return false
    closeOverStars(elements, next)
    ;[current, next] = [next, current]
  }
  return current[elements.length] === 1
}

/** A star also matches nothing: whoever reaches it reaches what follows. */
function closeOverStars(elements: readonly PatternElement[], states: Uint8Array): void {
  for (let state = 0; state < elements.length; state++) {
    if (states[state] === 1 && 'star' in (elements[state] as PatternElement)) states[state + 1] = 1
  }
}

function pushLiteral(elements: PatternElement[], text: string): void {
  for (let index = 0; index < text.length; index++) elements.push({ char: text.charCodeAt(index) })
}

function checkLength(value: string): void {
  if (value.length === 0) throw new SelectorError('an empty topic selector')
  if (value.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorError(`a topic selector longer than ${MAX_SELECTOR_LENGTH} characters`)
  }
}
