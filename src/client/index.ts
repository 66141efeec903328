export {
  type ClientErrorCode,
  ContentTypeError,
  EventStreamError,
  HttpStatusError,
  NetworkError,
} from './errors.js'
export { EventSource, type EventSourceInit } from './event-source.js'
export {
  type FetchEventStreamInit,
  fetchEventStream,
  type ReconnectContext,
  reconnectDelay,
} from './fetch-event-stream.js'
