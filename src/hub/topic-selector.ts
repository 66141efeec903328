/**
 * Topic selectors: which topics a subscriber (or a JWT's claim) asks for. Patterns come from
 * untrusted clients, so they are never compiled to regular expressions (a crafted one could
 * backtrack for minutes): they become a small automaton that a topic runs through once, in
 * O(topic length × pattern length) with both lengths bounded.
 */
export type TopicSelector = { kind: 'any' } | { kind: 'exact'; topic: string } | PatternSelector

/**
 * A pattern as an automaton's elements (star runs merged into one star), with what lets most topics
 * be decided before it runs: the literal text every match starts with, and the fewest characters.
 */
export interface PatternSelector {
  kind: 'pattern'
  source: string
  elements: readonly PatternElement[]
  prefix: string
  minLength: number
  /** Stars after merging: the automaton's work per character grows with them (see `runPattern`). */
  wildcards: number
}

/** One character of literal text, or a run of any characters (`segment`: not crossing / ? #). */
type PatternElement = { char: number } | { star: 'any' | 'segment' }

export const MAX_SELECTOR_LENGTH = 1024

const SLASH = 47
const QUESTION = 63
const HASH = 35
/** Any one character of a segment (the first character of a `:name`). */
const SEGMENT_CHAR = -1
/**
 * Wildcards one subscription may hold over all its selectors (`--max-wildcards`): matching a topic
 * costs at most (2 × wildcards + patterns) steps per character, so this bounds what one anonymous
 * subscriber costs each publish and each replayed update.
 */
export const DEFAULT_MAX_WILDCARDS = 64

export class SelectorError extends Error {
  readonly code = 'SG_ERR_BAD_SELECTOR'
}

/** Refuses a subscription whose patterns hold more wildcards than the budget, with the count. */
export function checkWildcards(selectors: readonly TopicSelector[], maxWildcards: number): void {
  let wildcards = 0
  for (const selector of selectors) if (selector.kind === 'pattern') wildcards += selector.wildcards
  if (wildcards > maxWildcards) {
    throw new SelectorError(
      `at most ${maxWildcards} wildcards over the selectors of one subscription (--max-wildcards); these hold ${wildcards}`,
    )
  }
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
        pushStar(elements, 'any')
        break
      case '/':
      case '.':
      case ';':
      case '?':
      case '&':
        pushLiteral(elements, operator)
        pushStar(elements, operator === '?' || operator === '&' ? 'any' : 'segment')
        break
      default:
        pushStar(elements, 'segment')
    }
    index = close + 1
  }
  return pattern(value, elements)
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
      elements.push({ char: SEGMENT_CHAR })
      pushStar(elements, 'segment')
    } else if (char === '*') {
      pushStar(elements, 'any')
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
  return pattern(value, elements)
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
      return runPattern(selector, topic)
  }
}

/**
 * Thompson simulation over the sparse set of live positions: each character costs one step per
 * live position, and a position is live only at a star or just after one, so a topic costs at most
 * its length × (2 × wildcards + 1) steps, whatever the pattern's length. The literal prefix is
 * compared first, and the automaton starts after it.
 */
function runPattern(selector: PatternSelector, topic: string): boolean {
  if (topic.length < selector.minLength || !topic.startsWith(selector.prefix)) return false
  const { elements } = selector
  const end = elements.length
  const scratch = scratchFor(end + 1)
  let current = scratch.current
  let next = scratch.next
  let size = addState(elements, scratch.marks, ++scratch.generation, current, 0, selector.prefix.length)
  for (let index = selector.prefix.length; index < topic.length; index++) {
    const code = topic.charCodeAt(index)
    const inSegment = code !== SLASH && code !== QUESTION && code !== HASH
    const generation = ++scratch.generation
    let nextSize = 0
    for (let live = 0; live < size; live++) {
      const state = current[live] as number
      if (state === end) continue
      const element = elements[state] as PatternElement
      if ('star' in element) {
        if (element.star === 'any' || inSegment)
          nextSize = addState(elements, scratch.marks, generation, next, nextSize, state)
      } else if (element.char === code || (element.char === SEGMENT_CHAR && inSegment)) {
        nextSize = addState(elements, scratch.marks, generation, next, nextSize, state + 1)
      }
    }
    if (nextSize === 0) return false
    ;[current, next] = [next, current]
    size = nextSize
  }
  return scratch.marks[end] === scratch.generation
}

/** Adds a position, and the one after it when it is a star (a star also matches nothing). */
function addState(
  elements: readonly PatternElement[],
  marks: Uint32Array,
  generation: number,
  states: Int32Array,
  size: number,
  state: number,
): number {
  let added = size
  if (marks[state] !== generation) {
    marks[state] = generation
    states[added++] = state
  }
  // Star runs are merged, so what follows a star is never another star.
  if (
    state < elements.length &&
    'star' in (elements[state] as PatternElement) &&
    marks[state + 1] !== generation
  ) {
    marks[state + 1] = generation
    states[added++] = state + 1
  }
  return added
}

/** Working memory of the simulation, shared by every match (they never overlap: no await inside). */
const scratch = {
  current: new Int32Array(0),
  next: new Int32Array(0),
  marks: new Uint32Array(0),
  generation: 0,
}

function scratchFor(size: number): typeof scratch {
  if (scratch.marks.length < size || scratch.generation > 0xffff_0000) {
    const length = Math.max(size, scratch.marks.length)
    scratch.current = new Int32Array(length)
    scratch.next = new Int32Array(length)
    scratch.marks = new Uint32Array(length)
    scratch.generation = 0
  }
  return scratch
}

function pattern(source: string, elements: PatternElement[]): PatternSelector {
  let prefix = ''
  for (const element of elements) {
    if ('star' in element || element.char === SEGMENT_CHAR) break
    prefix += String.fromCharCode(element.char)
  }
  let minLength = 0
  let wildcards = 0
  for (const element of elements) {
    if ('star' in element) wildcards++
    else minLength++
  }
  return { kind: 'pattern', source, elements, prefix, minLength, wildcards }
}

/** Appends a star, merged with a star just before it (`**` is `*`; a segment run within any run is any). */
function pushStar(elements: PatternElement[], star: 'any' | 'segment'): void {
  const last = elements.at(-1)
  if (last !== undefined && 'star' in last) {
    if (star === 'any') elements[elements.length - 1] = { star }
  } else elements.push({ star })
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
