export { encodeEvent, encodeEventBytes } from './encoder.js'
export { ParseError, type ParseErrorCode } from './errors.js'
export {
  createParser,
  DEFAULT_MAX_EVENT_SIZE,
  type EventStreamParser,
  type ParserOptions,
} from './parser.js'
export type { OutgoingEvent, ServerSentEvent } from './types.js'
