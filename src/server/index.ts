export { chunkFrame, EncodedEvent } from './encoded-event.js'
export {
  type CloseReason,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  type EventStream,
  type EventStreamOptions,
} from './event-stream.js'
export { type CorsOptions, corsHeaders, eventStreamHeaders } from './headers.js'
export { HeartbeatScheduler, sharedHeartbeat } from './heartbeat.js'
export { type NodeResponse, sendError, sendJson } from './json-response.js'
export { createEventStream } from './node.js'
export { eventStreamResponse, type WebEventStream, type WebEventStreamOptions } from './web.js'
