/**
 * One dispatched event, as the WHATWG "dispatch the event" step produces it.
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#dispatchMessage
 */
export interface ServerSentEvent {
  /** The block's `data` lines joined with LF. */
  data: string
  /** The block's `event` field; undefined when the block set none or an empty one (both mean `message`). */
  event: string | undefined
  /** The block's own `id` field (the last valid one); undefined when the block had none. */
  id: string | undefined
  /** The last event ID buffer at dispatch: persists across events until an `id` field changes it. */
  lastEventId: string
}

/** Fields of an event to put on the wire. */
export interface OutgoingEvent {
  data?: string
  event?: string
  id?: string
  /** Reconnection time in milliseconds: a non-negative integer. */
  retry?: number
  /** Comment text, sent as `: text` lines; ignored by clients, useful as a heartbeat. */
  comment?: string
}
